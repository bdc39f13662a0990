// SPDX-License-Identifier: GPL-2.0
/* Video node registration (src/kapi/video.rs). */

#include <media/v4l2-dev.h>

#include "rvcap_helpers.h"

/*
 * Registers @vdev as a video capture node with the first free number. In
 * C: video_register_device() is a static inline.
 */
int rvcap_video_register_device(struct video_device *vdev)
{
	return video_register_device(vdev, VFL_TYPE_VIDEO, -1);
}
