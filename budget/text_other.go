//go:build !linux

package budget

// DropStartupPages does nothing where /proc/self/maps is not available.
func DropStartupPages() {}
