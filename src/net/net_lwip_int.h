/* net_lwip_int.h — shared by the lwIP backend's files (NET=lwip only). */
#ifndef NET_NET_LWIP_INT_H
#define NET_NET_LWIP_INT_H

/* Start lwIP (tcpip_init: the tcpip thread and the loopback netif) unless
 * it runs already.  Any thread; cannot fail (lwIP aborts when it cannot
 * create its thread). */
void net_lwip_start(void);

/* Call fn(arg) with every signal blocked in the calling thread (restored
 * after), so that the threads fn creates never take a process signal. */
void net_lwip_masked(void (*fn)(void *), void *arg);

#endif
