/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C wrappers, in src/helpers.c, for static inline functions and macros that
 * bindgen cannot turn into callable Rust functions.
 */
#ifndef RVCAP_HELPERS_H
#define RVCAP_HELPERS_H

#include <linux/types.h>

struct device;

int rvcap_dma_coerce_mask_and_coherent(struct device *dev, unsigned int bits);
u64 rvcap_dma_get_mask(struct device *dev);
const char *rvcap_dev_name(const struct device *dev);

#endif /* RVCAP_HELPERS_H */
