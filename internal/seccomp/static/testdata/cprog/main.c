/* A test program for the static analysis: personality through syscall(2)
 * with a constant number and getpid through its libc wrapper; built with
 * -DVARIABLE it also makes syscall(2) with a number from argv, which no
 * analysis can resolve. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
	long p = syscall(SYS_personality, 0xffffffffUL);
	printf("personality %#lx pid %d\n", p, (int)getpid());
#ifdef VARIABLE
	if (argc > 1)
		syscall(strtol(argv[1], NULL, 10), 0, 0, 0);
#endif
	(void)argc;
	(void)argv;
	return 0;
}
