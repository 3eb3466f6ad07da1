/*
 * jscan.h - kept only so that older includes still compile: the
 * scanner's declarations live in kl.h, the one header.
 */
#include "kl.h"
