/*
 * update_cmd.h — `outpost update verify [--cert FILE] [--allow-downgrade]
 * FILE`: print a bundle's manifest and the verdict of update_open(),
 * update_check() against this build (OUTPOST_VERSION, UPDATE_ARCH) and
 * every part's sha256.  Exit 0 (applies), 100 (refused, the reason on
 * stderr) or 111 (the certificate could not be read).
 */
#ifndef CONNECTOR_UPDATE_CMD_H
#define CONNECTOR_UPDATE_CMD_H

int update_main(int argc, char **argv);

#endif
