// SPDX-License-Identifier: GPL-2.0

#include <media/v4l2-ctrls.h>
#include <media/v4l2-dev.h>

void *rvcap_video_drvdata(struct file *file)
{
	return video_drvdata(file);
}

void rvcap_video_set_drvdata(struct video_device *vdev, void *data)
{
	video_set_drvdata(vdev, data);
}

int rvcap_ctrl_handler_init(struct v4l2_ctrl_handler *hdl, unsigned int nr)
{
	return v4l2_ctrl_handler_init(hdl, nr);
}
