// Command floor is the yardstick of tinysink's ingest throughput: the least a
// durable server can do per event, and the benchmark that compares tinysink
// with it.
//
//	floor serve -addr 127.0.0.1:9000 -file /tmp/floor.log
//	floor bench [-rounds 3] [-duration 10s] [-dir DIR]   (make bench-floor)
//	floor ab -a OLD -b NEW [-rounds 4] [-rate 1000]       (two builds side by side)
//
// serve reads each request body, appends it to one file, and answers 200
// once a group commit's fsync covered it: one fsync acknowledges every
// request that arrived while the previous one ran. It parses nothing, stores
// nothing else and keeps nothing in memory, so what it reaches on a box is
// the floor that fsync sets there: no durable server does better with the
// same disk, client and cores.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: floor serve|bench|ab [flags]")
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "bench":
		err = bench(os.Args[2:])
	case "ab":
		err = ab(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (serve, bench or ab)", os.Args[1])
	}
	if err != nil {
		log.Fatal("floor: ", err)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	file := fs.String("file", "floor.log", "file the bodies are appended to")
	fs.Parse(args)
	f, err := os.OpenFile(*file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	// The bench reads the address from this line.
	fmt.Printf("listening on %s\n", ln.Addr())
	c := newCommitter(f)
	go c.run()
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := c.append(body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"0"}`)
	}))
}

// committer appends bodies to a file and fsyncs them in groups: a body is
// acknowledged by the first fsync that starts after it was written.
type committer struct {
	f    *os.File
	mu   sync.Mutex
	cond *sync.Cond
	buf  []byte
	// next is the number of the group being filled, done the last one synced.
	next, done uint64
	err        error
}

func newCommitter(f *os.File) *committer {
	c := &committer{f: f, next: 1}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *committer) append(body []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, body...)
	c.buf = append(c.buf, '\n')
	group := c.next
	c.cond.Broadcast()
	for c.done < group && c.err == nil {
		c.cond.Wait()
	}
	return c.err
}

func (c *committer) run() {
	var spare []byte
	c.mu.Lock()
	for {
		for len(c.buf) == 0 {
			c.cond.Wait()
		}
		buf, group := c.buf, c.next
		c.buf, c.next = spare[:0], c.next+1
		c.mu.Unlock()
		_, err := c.f.Write(buf)
		if err == nil {
			err = c.f.Sync()
		}
		spare = buf
		c.mu.Lock()
		c.done, c.err = group, err
		c.cond.Broadcast()
	}
}
