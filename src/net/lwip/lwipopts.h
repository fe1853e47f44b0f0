/*
 * lwipopts.h — lwIP configuration of outpost's embedded build (NET=lwip).
 *
 * The stack runs as lwIP's Linux unix port: one tcpip thread (NO_SYS 0),
 * the tap netif and the loopback netif, the BSD-style socket API (lwip_*
 * names only: no macros over the libc names) on the system's own socket
 * headers, so struct sockaddr and the option constants are libc's and the
 * shim passes them through unchanged.  DNS stays c-ares over the shim.
 *
 * Memory: MEMP_MEM_MALLOC is 0, so every MEMP_NUM_* below is a hard limit
 * (a pool, allocated once), never a soft hint; the heap for pbuf payloads
 * of outgoing data comes from libc malloc (MEM_LIBC_MALLOC).
 */
#ifndef OUTPOST_LWIPOPTS_H
#define OUTPOST_LWIPOPTS_H

/* The unix port's posix/sockets.h sizes sin_zero with glibc's
 * __SOCKADDR_COMMON_SIZE; musl's sockaddr starts with sa_family_t alone. */
#ifndef __SOCKADDR_COMMON_SIZE
#define __SOCKADDR_COMMON_SIZE sizeof(sa_family_t)
#endif

/* --- system ------------------------------------------------------------ */
#define NO_SYS 0
#define LWIP_TCPIP_CORE_LOCKING 1
#define LWIP_COMPAT_SOCKETS 0
#define LWIP_SOCKET 1
#define LWIP_NETCONN 1
#define LWIP_SOCKET_SELECT 1
#define LWIP_SOCKET_POLL 1
#define LWIP_SOCKET_EXTERNAL_HEADERS 1
#define LWIP_SOCKET_EXTERNAL_HEADER_SOCKETS_H "posix/sockets.h"
#define LWIP_SOCKET_EXTERNAL_HEADER_INET_H "posix/inet.h"
/* lwIP fds start at 0 in their own space (never passed to libc calls). */
#define LWIP_SOCKET_OFFSET 0
#define LWIP_DNS 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_RAW 0
#define LWIP_STATS 0
#define LWIP_NOASSERT_ON_ERROR 1
#define LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS 1
#define SO_REUSE 1
#define LWIP_TCP_KEEPALIVE 1
#define LWIP_SO_RCVBUF 0
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 0
#if defined __LP64__
#define MEM_ALIGNMENT 8
#else
#define MEM_ALIGNMENT 4
#endif

/* --- interfaces -------------------------------------------------------- */
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_IPV6_AUTOCONFIG 0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0
#define LWIP_NETIF_LOOPBACK 1
/* The loopback netif (127.0.0.1, ::1) serves the health port to the box
 * itself and the unit test of the shim. */
#define LWIP_HAVE_LOOPIF 1
#define LWIP_NETIF_TX_SINGLE_PBUF 1
#define LWIP_CHECKSUM_ON_COPY 1

/* --- TCP sizing -------------------------------------------------------- */
#define TCP_MSS 1460
/* Connections: the connector holds a few tunnel connections (one per edge
 * plus one make-before-break replacement), one upstream connection per
 * in-flight request (200 concurrent is the tested load) and the health
 * port's clients (a bounded handful).  256 leaves room for TIME_WAIT pcbs
 * of recently finished upstream requests; each pcb is about 200 bytes. */
#define MEMP_NUM_TCP_PCB 256
/* Listeners: the health port on each address family. */
#define MEMP_NUM_TCP_PCB_LISTEN 4
#define MEMP_NUM_UDP_PCB 8 /* c-ares queries in flight, SNTP */
#define MEMP_NUM_NETCONN \
	(MEMP_NUM_TCP_PCB + MEMP_NUM_TCP_PCB_LISTEN + MEMP_NUM_UDP_PCB)
/* Receive window: 16 segments (23 KiB) per connection keeps a 1 MiB body
 * moving at LAN round trips without window scaling, and bounds what one
 * connection can make lwIP hold for a slow reader (TLS records are at most
 * 16 KiB + overhead, so one full record always fits in the window). */
#define TCP_WND (16 * TCP_MSS)
/* Send buffer: the same 16 segments; the shim's writers (TLS, h2) already
 * buffer above, so a larger lwIP send buffer would only duplicate them. */
#define TCP_SND_BUF (16 * TCP_MSS)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
/* Segments queued for sending or out of order across all connections:
 * enough for four connections at a full send queue each at once. */
#define MEMP_NUM_TCP_SEG (4 * TCP_SND_QUEUELEN)
/* Receive pbufs: frames from the tap land here before TCP takes them.  64
 * buffers of one full frame each (about 100 KiB) hold more than two full
 * receive windows at once plus ARP/ND traffic; when the pool is empty lwIP
 * drops the frame and TCP retransmits, so this bounds memory, not
 * correctness. */
#define PBUF_POOL_SIZE 64
#define MEMP_NUM_PBUF 64
#define MEMP_NUM_NETBUF 16
#define MEMP_NUM_TCPIP_MSG_INPKT 64

/* --- threads (unix port) ------------------------------------------------ */
#define TCPIP_THREAD_STACKSIZE 0
#define TCPIP_MBOX_SIZE 64
#define DEFAULT_RAW_RECVMBOX_SIZE 16
#define DEFAULT_UDP_RECVMBOX_SIZE 16
#define DEFAULT_TCP_RECVMBOX_SIZE 32
#define DEFAULT_ACCEPTMBOX_SIZE 32

void sys_check_core_locking(void);
#define LWIP_ASSERT_CORE_LOCKED() sys_check_core_locking()
void sys_mark_tcpip_thread(void);
#define LWIP_MARK_TCPIP_THREAD() sys_mark_tcpip_thread()
void sys_lock_tcpip_core(void);
#define LOCK_TCPIP_CORE() sys_lock_tcpip_core()
void sys_unlock_tcpip_core(void);
#define UNLOCK_TCPIP_CORE() sys_unlock_tcpip_core()

#endif
