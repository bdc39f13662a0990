// SPDX-License-Identifier: GPL-2.0

#include <linux/iosys-map.h>

void rvcap_iosys_map_set_vaddr(struct iosys_map *map, void *vaddr)
{
	iosys_map_set_vaddr(map, vaddr);
}
