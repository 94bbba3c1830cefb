//go:build !unix

package ingest

import "net"

// headersWaiting cannot look into the socket here: no connection is
// spared for it.
func headersWaiting(c net.Conn) bool { return false }
