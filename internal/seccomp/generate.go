package seccomp

//go:generate go run ./gen -o zsysnum_linux.go
