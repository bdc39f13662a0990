// SPDX-License-Identifier: GPL-2.0

#include <linux/dma-fence.h>

void rvcap_dma_fence_get(struct dma_fence *fence)
{
	dma_fence_get(fence);
}

void rvcap_dma_fence_put(struct dma_fence *fence)
{
	dma_fence_put(fence);
}

bool rvcap_dma_fence_is_signaled(struct dma_fence *fence)
{
	return dma_fence_is_signaled(fence);
}

void rvcap_dma_fence_set_error(struct dma_fence *fence, int error)
{
	dma_fence_set_error(fence, error);
}

bool rvcap_dma_fence_begin_signalling(void)
{
	return dma_fence_begin_signalling();
}

void rvcap_dma_fence_end_signalling(bool cookie)
{
	dma_fence_end_signalling(cookie);
}
