package store

import (
	"fmt"
	"strconv"
)

// The key layout, in one place. Numbers are zero-padded so that lexical
// key order is numeric order. kvtx.go routes each family to its home.
//
// In buntdb (in memory; what the operator controls):
//
//	meta:format                         data-directory format version
//	tree:seq                            last tree transaction committed (kvtx.go)
//	seq:<name>                          last id handed out for <name> (project, issue, outbox, deploy)
//	project:<pid 6>                     Project JSON
//	user:<name>                         User JSON
//	token:<sha256 hex of token>         Token JSON
//	session:<hash>                      Session JSON (expires)
//	alertbackend:…, alertaddr:…, alertoptout:…, emailstatus, emailcount:… (expires)
//	spool:pos                           spool position digested so far ("seg:off")
//
// In the tree (tree.db, on disk; what grows with traffic and time):
//
//	issue:<iid 10>                      Issue JSON
//	pissue:, ils:, iec:, inext:, icnt:, igrp:   issue indexes (issueindex.go)
//	grouping:<pid 6>:<sha256 hex>       Grouping JSON (issue id, key, mechanism, succeeded_by)
//	release:<pid 6>:<version>           Release JSON
//	deploy:<pid 6>:<version>\x00<seq>   Deploy JSON (release.go)
//	itag:<iid 10>:<key>\x00<value>      times the issue's events carried the tag
//	itagn:<iid 10>:<key>                distinct values counted under itag for the key
//	history:<iid 10>:<nanos 20>         HistoryEntry JSON (actions.go)
//	hourly:, daily:, thourly:, tdaily:  event counters (hourly.go)
//	outbox:<id 16>                      Delivery JSON (outbox.go)
//	rh:, rhn:, crep:, crepn:, ditem:, ditemn:   release health, client reports,
//	                                    dropped items per project and day (health.go)
//	txday:, txname:, txnamen:, txex:    transaction summaries and examples (perf.go)
//	monitor:, mcheck:, mdue:            cron monitors, check-ins, deadlines (monitor.go)
//	ifeedback:<iid 10>:<nanos 20>       user feedback on an issue (feedback.go)
//	fbpend:<nanos 20>:<pid 6>, fbpendn:all  feedback waiting for its event (feedback.go)
//
// Event bodies and the per-event index are in neither: see eventlog.go.
const (
	keyFormat   = "meta:format"
	keySpoolPos = "spool:pos"
)

func seqKey(name string) string   { return "seq:" + name }
func projectKey(id int) string    { return fmt.Sprintf("project:%06d", id) }
func userKey(name string) string  { return "user:" + name }
func tokenKey(hash string) string { return "token:" + hash }
func issueKey(id uint32) string   { return fmt.Sprintf("issue:%010d", id) }
func groupingKey(pid int, hash string) string {
	return fmt.Sprintf("grouping:%06d:%s", pid, hash)
}
func releaseKey(pid int, version string) string {
	return fmt.Sprintf("release:%06d:%s", pid, version)
}
func releasePrefix(pid int) string { return fmt.Sprintf("release:%06d:", pid) }

func projectIssueKey(pid int, order int) string {
	return fmt.Sprintf("pissue:%06d:%010d", pid, order)
}
func projectIssuePrefix(pid int) string { return fmt.Sprintf("pissue:%06d:", pid) }

func issueTagKey(iid uint32, key, value string) string {
	return "itag:" + pad10(iid) + ":" + key + "\x00" + value
}
func issueTagPrefix(iid uint32) string               { return "itag:" + pad10(iid) + ":" }
func issueTagCountKey(iid uint32, key string) string { return "itagn:" + pad10(iid) + ":" + key }

func pad10(n uint32) string {
	s := strconv.FormatUint(uint64(n), 10)
	const zeros = "0000000000"
	return zeros[:10-len(s)] + s
}
