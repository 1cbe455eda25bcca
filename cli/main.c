#include <stdio.h>
int main(void) { puts("reinpatch: under construction"); return 0; }
