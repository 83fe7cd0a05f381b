package spec

// WallNames are the seven walls by number (docs/architecture.md): the
// words every message about a wall uses ("wall 7 (filesystem): ...").
var WallNames = map[int]string{
	1: "identity", 2: "privileges", 3: "syscalls", 4: "mandatory access",
	5: "namespaces", 6: "resources", 7: "filesystem",
}
