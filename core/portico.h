#ifndef PORTICO_H
#define PORTICO_H

#define PORTICO_VERSION     "0.1.0"
#define PORTICO_VER         "portico/" PORTICO_VERSION
#define PORTICO_VAR         "PORTICO"   /* inherited sockets on upgrade */

#endif /* PORTICO_H */
