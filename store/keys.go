package store

import (
	"fmt"
	"strconv"
	"time"
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
//	oidcsub:<sha256 hex of iss \x00 sub>  name of the user linked to that OpenID Connect identity (oidclink.go)
//	token:<sha256 hex of token>         Token JSON
//	session:<sha256 hex of token>       Session JSON, with a TTL (session.go)
//	team:<name>                         Team JSON (team.go)
//	invite:<sha256 hex of token>        Invite JSON, with a TTL (invite.go)
//	pwreset:<sha256 hex of token>       user name, with a TTL (invite.go)
//	meta:clean                          set by Close once all is on disk, removed by Open
//	alertbackend:<id 10>                AlertBackend JSON (alertconfig.go)
//	alertoptout:<pid 6>:<user>          present when the user turned email alerts off for the project
//	alertaddr:<user>                    where the user's alert emails go, when set
//	emailstatus                         EmailStatus JSON (outbox.go)
//	emailcount:<yyyymmddhh>             alert emails sent in that UTC hour (expires after two hours)
//	spool:pos                           spool position digested so far ("seg:off")
//
// In the tree (tree.db, on disk; what grows with traffic and time):
//
//	issue:<iid 10>                      Issue JSON
//	pissue:<pid 6>:<order 10>           issue ids in digest order (issueindex.go)
//	ils:<pid 6>:<state>:<ms 20>:<iid>   issues by last seen, per state
//	iec:<pid 6>:<state>:<count 20>:<iid>  issues by event count, per state
//	inext:<pid 6>:<iid>                 issues resolved for the next release
//	iasg:<pid 6>:<user>\x00<iid 10>     issues assigned to the user
//	icnt:<pid 6>:<state>                issues per state
//	igrp:<iid 10>:<sha256 hex>          the issue's groupings
//	grouping:<pid 6>:<sha256 hex>       Grouping JSON (issue id, key, mechanism, succeeded_by)
//	release:<pid 6>:<version>           Release JSON
//	deploy:<pid 6>:<version>\x00<seq>   Deploy JSON (release.go)
//	itag:<iid 10>:<key>\x00<value>      times the issue's events carried the tag
//	itagn:<iid 10>:<key>                distinct values counted under itag for the key
//	sterm:<pid 6>:<term>\x00<iid 10>    the issues carrying a search term (searchindex.go)
//	iterm:<iid 10>:<n 3>                the issue's search terms, packed
//	ifact:<iid 10>                      what a search checks of the issue (issuesearch.go)
//	history:<iid 10>:<nanos 20>         HistoryEntry JSON (actions.go)
//	hourly:<yyyymmdd>:<subject>         an issue's hourly event counters (hourly.go)
//	daily:<yyyymmdd>:<subject>          an issue's daily event counters
//	thourly:, tdaily:                   the same for projects and the installation
//	outbox:<id 16>                      Delivery JSON (outbox.go)
//	artbundle:<pid 6>:<sha1>            ArtifactBundle JSON (artifacts.go)
//	artfile:<pid 6>:<sha1>:<n 6>        ArtifactFile JSON, each file of a bundle
//	artdebug:<pid 6>:<debug id>:<type>  ArtifactFile JSON, by debug id
//	artrel:<pid 6>:<release>\x00<dist>\x00<url>   ArtifactFile JSON, by release URL
//
// Uploaded chunks and artifact bodies are files (chunks.go, artifacts.go).
//
//	rh:, rhn:, crep:, crepn:, ditem:, ditemn:   release health, client reports,
//	                                    dropped items per project and day (health.go)
//	txday:, txname:, txnamen:, txex:    transaction summaries and examples (perf.go)
//	monitor:, mcheck:, mdue:            cron monitors, check-ins, deadlines (monitor.go)
//	ifeedback:<iid 10>:<nanos 20>       user feedback on an issue (feedback.go)
//	fbpend:<nanos 20>:<pid 6>, fbpendn:all  feedback waiting for its event (feedback.go)
//
// Event bodies and the per-event index are in neither: see eventlog.go.
const (
	keyFormat      = "meta:format"
	keySpoolPos    = "spool:pos"
	keyClean       = "meta:clean"
	treeSeqKey     = "tree:seq"
	keyEmailStatus = "emailstatus"
	sessionPrefix  = "session:"

	userPattern         = "user:*"
	teamPattern         = "team:*"
	invitePattern       = "invite:*"
	projectPattern      = "project:*"
	alertBackendPattern = "alertbackend:*"
	outboxPattern       = "outbox:*"

	// The event counter families: an issue's, and the totals'.
	hourlyIssues = "hourly:"
	dailyIssues  = "daily:"
	hourlyTotals = "thourly:"
	dailyTotals  = "tdaily:"
)

func seqKey(name string) string    { return "seq:" + name }
func projectKey(id int) string     { return fmt.Sprintf("project:%06d", id) }
func userKey(name string) string   { return "user:" + name }
func tokenKey(hash string) string  { return "token:" + hash }
func teamKey(name string) string   { return "team:" + name }
func inviteKey(hash string) string { return "invite:" + hash }
func resetKey(hash string) string  { return "pwreset:" + hash }
func issueKey(id uint32) string    { return fmt.Sprintf("issue:%010d", id) }
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
func issueTagCountKey(iid uint32, key string) string { return issueTagCountPrefix(iid) + key }

func pad10(n uint32) string {
	s := strconv.FormatUint(uint64(n), 10)
	const zeros = "0000000000"
	return zeros[:10-len(s)] + s
}

func sessionKey(hash string) string { return sessionPrefix + hash }

func historyKey(iid uint32, at time.Time) string {
	return fmt.Sprintf("history:%s:%020d", pad10(iid), at.UnixNano())
}
func historyPrefix(iid uint32) string { return "history:" + pad10(iid) + ":" }

func alertBackendKey(id uint32) string { return "alertbackend:" + pad10(id) }
func alertOptOutKey(pid int, user string) string {
	return fmt.Sprintf("alertoptout:%06d:%s", pid, user)
}
func alertAddrKey(user string) string { return "alertaddr:" + user }

func outboxKey(id uint64) string { return fmt.Sprintf("outbox:%016d", id) }
func emailCountKey(at time.Time) string {
	return "emailcount:" + at.UTC().Format("2006010215")
}

func deployKey(pid int, version string, seq uint64) string {
	return deployPrefix(pid, version) + fmt.Sprintf("%020d", seq)
}
func deployPrefix(pid int, version string) string {
	return fmt.Sprintf("deploy:%06d:%s\x00", pid, version)
}

func issueTagCountPrefix(iid uint32) string { return "itagn:" + pad10(iid) + ":" }

func lastSeenPrefix(pid int, s IssueState) string { return fmt.Sprintf("ils:%06d:%s:", pid, s) }
func eventCountPrefix(pid int, s IssueState) string {
	return fmt.Sprintf("iec:%06d:%s:", pid, s)
}
func nextReleasePrefix(pid int) string                { return fmt.Sprintf("inext:%06d:", pid) }
func assignedPrefix(pid int, user string) string      { return fmt.Sprintf("iasg:%06d:%s\x00", pid, user) }
func issueCountKey(pid int, s IssueState) string      { return fmt.Sprintf("icnt:%06d:%s", pid, s) }
func issueGroupingKey(iid uint32, hash string) string { return "igrp:" + pad10(iid) + ":" + hash }
func issueGroupingPrefix(iid uint32) string           { return "igrp:" + pad10(iid) + ":" }

func dayString(t time.Time) string { return t.UTC().Format("20060102") }

func hourlyKey(subject string, day time.Time) string {
	return hourlyFamily(subject) + dayString(day) + ":" + subject
}

func dailyKey(subject string, day time.Time) string {
	return dailyFamily(subject) + dayString(day) + ":" + subject
}

func hourlyFamily(subject string) string {
	if isIssueSubject(subject) {
		return hourlyIssues
	}
	return hourlyTotals
}

func dailyFamily(subject string) string {
	if isIssueSubject(subject) {
		return dailyIssues
	}
	return dailyTotals
}

func artBundleKey(pid int, sum string) string { return fmt.Sprintf("artbundle:%06d:%s", pid, sum) }
func artBundlePrefix(pid int) string          { return fmt.Sprintf("artbundle:%06d:", pid) }
func artFileKey(pid int, bundle string, n int) string {
	return fmt.Sprintf("artfile:%06d:%s:%06d", pid, bundle, n)
}
func artFilePrefix(pid int, bundle string) string {
	return fmt.Sprintf("artfile:%06d:%s:", pid, bundle)
}

// artDebugKey with an empty typ is the prefix of the debug id's files.
func artDebugKey(pid int, debugID, typ string) string {
	return fmt.Sprintf("artdebug:%06d:%s:%s", pid, debugID, typ)
}

// artRelKey with an empty url is the prefix of the release's files.
func artRelKey(pid int, release, dist, url string) string {
	return fmt.Sprintf("artrel:%06d:%s\x00%s\x00%s", pid, release, dist, url)
}
