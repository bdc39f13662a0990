// SPDX-License-Identifier: GPL-2.0

#include <linux/mm.h>

void rvcap_vm_flags_set(struct vm_area_struct *vma, unsigned long flags)
{
	vm_flags_set(vma, flags);
}

/* A field read: vm_flags is a const member of a union. */
unsigned long rvcap_vma_flags(const struct vm_area_struct *vma)
{
	return vma->vm_flags;
}

unsigned long rvcap_vma_pages(struct vm_area_struct *vma)
{
	return vma_pages(vma);
}
