/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest-side helper: find the ivshmem-plain device (PCI 1af4:1110), map its
 * BAR 2 (the host's shared file), print the text the host left at offset 0
 * and write a reply at offset 4096.
 *
 *   ivshmem_probe REPLY
 *
 * Prints "ivshmem: host says '<text>'" and "ivshmem: wrote reply"; exits
 * non-zero with a message on any error. Built with `cc -static` on the host
 * and put into the guest's initramfs (BAR 2 must be mmap()ed: read() on the
 * sysfs resource file fails).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCI_DEVICES "/sys/bus/pci/devices"
#define REPLY_OFFSET 4096

static unsigned read_hex(const char *dev, const char *attr)
{
	char path[512], buf[32] = "";
	FILE *f;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", dev, attr);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return (unsigned)strtoul(buf, NULL, 16);
}

int main(int argc, char **argv)
{
	char dev[256] = "", path[512];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s REPLY\n", argv[0]);
		return 2;
	}
	d = opendir(PCI_DEVICES);
	if (!d) {
		perror("ivshmem: " PCI_DEVICES);
		return 1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] != '.' && read_hex(e->d_name, "vendor") == 0x1af4 &&
		    read_hex(e->d_name, "device") == 0x1110) {
			snprintf(dev, sizeof(dev), "%s", e->d_name);
			break;
		}
	}
	closedir(d);
	if (!dev[0]) {
		fprintf(stderr, "ivshmem: no PCI device 1af4:1110\n");
		return 1;
	}
	printf("ivshmem: device %s\n", dev);

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/enable", dev);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, "1", 1) != 1) {
		perror("ivshmem: enable");
		return 1;
	}
	close(fd);

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/resource2", dev);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror("ivshmem: resource2");
		return 1;
	}
	if (st.st_size < REPLY_OFFSET + 256) {
		fprintf(stderr, "ivshmem: BAR 2 is only %lld bytes\n", (long long)st.st_size);
		return 1;
	}
	char *mem = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		perror("ivshmem: mmap");
		return 1;
	}
	printf("ivshmem: BAR 2 is %lld bytes, host says '%.200s'\n", (long long)st.st_size, mem);
	snprintf(mem + REPLY_OFFSET, 256, "%s", argv[1]);
	msync(mem, (size_t)st.st_size, MS_SYNC);
	printf("ivshmem: wrote reply\n");
	munmap(mem, (size_t)st.st_size);
	close(fd);
	return 0;
}
