/* Internal to lib/gguf. */
#ifndef NB_GGUF_INTERNAL_H
#define NB_GGUF_INTERNAL_H

#include "../core/core.h"

#endif
