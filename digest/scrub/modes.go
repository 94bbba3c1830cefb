package scrub

// mode says what the walker does with a value: it encodes where in the
// event the value is (the event's schema as a small state machine) and so
// which of its keys and strings are scrubbed.
type mode uint8

const (
	mSkip   mode = iota // outside the scrubbed parts: only checked and skipped
	mFilter             // the value of a secret key: replaced as a whole
	mRoot               // the event
	mArea               // user data: keys matched, strings scanned as text
	mRequest
	mHeaders // request.headers: an object or a list of pairs
	mCookies // request.cookies and the Cookie header: a string, object or list of pairs
	mQuery   // request.query_string and fragment: a string, object or list of pairs
	mData    // request.data: any JSON, or a string body
	mEnv     // request.env
	mURL     // request.url
	mUser
	mValues     // exception and threads: {"values": [...]} or a list
	mValuesList // their "values"
	mExcValue   // one exception or thread
	mStacktrace
	mFrames
	mFrame
	mCrumbs     // breadcrumbs: {"values": [...]} or a list
	mCrumbsList // their "values"
	mCrumb
	mTags  // tags: an object or a list of pairs; keys matched, values text
	mCode  // a frame's context lines: strings scanned as code
	mSpans // spans: a list
	mSpan
	mPair // marks, in elem, a list whose arrays are [name, value] pairs
	numModes
)

// Kinds of string scanning (strKind).
const (
	kNone   = iota
	kText   // free text: see scanText
	kQuery  // form-encoded: see scanQuery
	kCookie // a cookie string: see scanCookies
	kBody   // a request body: JSON, form-encoded or text
	kURL    // a URL: see scanURL
	kCode   // source code: see scanCode
)

// strKind says how a string in each mode is scanned. Numbers are checked
// for card numbers in every mode whose kind is not kNone.
var strKind = [numModes]uint8{
	mArea:    kText,
	mHeaders: kText,
	mCookies: kCookie,
	mQuery:   kQuery,
	mData:    kBody,
	mEnv:     kText,
	mURL:     kURL,
	mUser:    kText,
	mTags:    kText,
	mCode:    kCode,
}

// elem gives the mode of an array's elements in each mode; mPair marks a
// list of [name, value] pairs keyed like the members of an object in the
// array's own mode.
var elem = [numModes]mode{
	mArea:       mArea,
	mHeaders:    mPair,
	mCookies:    mPair,
	mQuery:      mPair,
	mData:       mArea,
	mEnv:        mArea,
	mURL:        mURL,
	mUser:       mArea,
	mValues:     mExcValue,
	mValuesList: mExcValue,
	mFrames:     mFrame,
	mCrumbs:     mCrumb,
	mCrumbsList: mCrumb,
	mTags:       mPair,
	mCode:       mCode,
	mSpans:      mSpan,
}

// child returns the mode of the value of member key (raw, decoded) of an
// object walked in mode m.
func (s *scrubber) child(m mode, key []byte) mode {
	switch m {
	case mRoot:
		switch string(key) {
		case "request":
			return mRequest
		case "extra", "contexts", "message", "logentry", "transaction", "culprit":
			return mArea
		case "tags":
			return mTags
		case "spans":
			return mSpans
		case "user":
			return mUser
		case "exception", "threads":
			return mValues
		case "stacktrace":
			return mStacktrace
		case "breadcrumbs":
			return mCrumbs
		}
	case mRequest:
		switch string(key) {
		case "headers":
			return mHeaders
		case "cookies":
			return mCookies
		case "query_string", "fragment":
			return mQuery
		case "data":
			return mData
		case "env":
			return mEnv
		case "url":
			return mURL
		}
	case mValues:
		switch string(key) {
		case "values":
			return mValuesList
		case "stacktrace", "raw_stacktrace": // a single exception object
			return mStacktrace
		case "value":
			return mArea
		}
	case mExcValue:
		switch string(key) {
		case "stacktrace", "raw_stacktrace":
			return mStacktrace
		case "value":
			return mArea
		}
	case mStacktrace:
		if string(key) == "frames" {
			return mFrames
		}
	case mFrame:
		switch string(key) {
		case "vars":
			return mArea
		case "context_line", "pre_context", "post_context":
			return mCode
		}
	case mSpan:
		switch string(key) {
		case "description", "data":
			return mArea
		case "tags":
			return mTags
		}
	case mCrumbs:
		if string(key) == "values" {
			return mCrumbsList
		}
	case mCrumb:
		switch string(key) {
		case "data", "message":
			return mArea
		}
	case mHeaders:
		s.norm = normalize(s.norm[:0], key)
		switch {
		case string(s.norm) == "cookie":
			return mCookies
		case s.scrubIP && ipHeader(s.norm):
			return mFilter
		case s.sensitive(key, keyField):
			return mFilter
		}
		return mArea
	case mCookies:
		if s.sensitive(key, keyCookie) {
			return mFilter
		}
		return mArea
	case mEnv:
		if s.scrubIP && string(key) == "REMOTE_ADDR" {
			return mFilter
		}
		return s.areaChild(key)
	case mUser:
		if s.scrubIP && string(key) == "ip_address" {
			return mFilter
		}
		return s.areaChild(key)
	case mArea, mQuery, mData, mURL, mTags:
		return s.areaChild(key)
	}
	return mSkip
}

// areaChild is the mode of a member of user data: filtered when its key is
// secret, user data again otherwise.
func (s *scrubber) areaChild(key []byte) mode {
	if s.sensitive(key, keyField) {
		return mFilter
	}
	return mArea
}
