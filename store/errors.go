package store

import (
	"encoding/json"
	"net/http"
)

// Error codes of the etcd v2 (and v0.4 v1) API. The numbers, and the
// messages in errorMessages, are wire facts: clients switch on them.
const (
	EcodeKeyNotFound      = 100
	EcodeTestFailed       = 101
	EcodeNotFile          = 102
	EcodeNoMorePeer       = 103
	EcodeNotDir           = 104
	EcodeNodeExist        = 105
	EcodeKeyIsPreserved   = 106
	EcodeRootROnly        = 107
	EcodeDirNotEmpty      = 108
	EcodeExistingPeerAddr = 109
	EcodeUnauthorized     = 110

	EcodeValueRequired        = 200
	EcodePrevValueRequired    = 201
	EcodeTTLNaN               = 202
	EcodeIndexNaN             = 203
	EcodeValueOrTTLRequired   = 204
	EcodeTimeoutNaN           = 205
	EcodeNameRequired         = 206
	EcodeIndexOrValueRequired = 207
	EcodeIndexValueMutex      = 208
	EcodeInvalidField         = 209
	EcodeInvalidForm          = 210
	EcodeRefreshValue         = 211
	EcodeRefreshTTLRequired   = 212

	EcodeRaftInternal = 300
	EcodeLeaderElect  = 301

	EcodeWatcherCleared     = 400
	EcodeEventIndexCleared  = 401
	EcodeStandbyInternal    = 402
	EcodeInvalidActiveSize  = 403
	EcodeInvalidRemoveDelay = 404

	EcodeClientInternal = 500
)

var errorMessages = map[int]string{
	EcodeKeyNotFound:      "Key not found",
	EcodeTestFailed:       "Compare failed",
	EcodeNotFile:          "Not a file",
	EcodeNoMorePeer:       "Reached the max number of peers in the cluster",
	EcodeNotDir:           "Not a directory",
	EcodeNodeExist:        "Key already exists",
	EcodeKeyIsPreserved:   "The prefix of given key is a keyword in etcd",
	EcodeRootROnly:        "Root is read only",
	EcodeDirNotEmpty:      "Directory not empty",
	EcodeExistingPeerAddr: "Peer address has existed",
	EcodeUnauthorized:     "The request requires user authentication",

	EcodeValueRequired:        "Value is Required in POST form",
	EcodePrevValueRequired:    "PrevValue is Required in POST form",
	EcodeTTLNaN:               "The given TTL in POST form is not a number",
	EcodeIndexNaN:             "The given index in POST form is not a number",
	EcodeValueOrTTLRequired:   "Value or TTL is required in POST form",
	EcodeTimeoutNaN:           "The given timeout in POST form is not a number",
	EcodeNameRequired:         "Name is required in POST form",
	EcodeIndexOrValueRequired: "Index or value is required",
	EcodeIndexValueMutex:      "Index and value cannot both be specified",
	EcodeInvalidField:         "Invalid field",
	EcodeInvalidForm:          "Invalid POST form",
	EcodeRefreshValue:         "Value provided on refresh",
	EcodeRefreshTTLRequired:   "A TTL must be provided on refresh",

	EcodeRaftInternal: "Raft Internal Error",
	EcodeLeaderElect:  "During Leader Election",

	EcodeWatcherCleared:     "watcher is cleared due to etcd recovery",
	EcodeEventIndexCleared:  "The event in requested index is outdated and cleared",
	EcodeStandbyInternal:    "Standby Internal Error",
	EcodeInvalidActiveSize:  "Invalid active size",
	EcodeInvalidRemoveDelay: "Standby remove delay",

	EcodeClientInternal: "Client Internal Error",
}

// Error is an etcd API error: a numeric code, the fixed message for that
// code, a free-form cause and the store index at the time of the failure
// (0 for request-validation errors). It is the only error type that the
// HTTP layer renders as an etcd error body.
type Error struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause,omitempty"`
	Index   uint64 `json:"index"`
}

// NewError returns the error for code with its standard message.
func NewError(code int, cause string, index uint64) *Error {
	return &Error{Code: code, Message: errorMessages[code], Cause: cause, Index: index}
}

// Message returns the standard message of an error code ("" if unknown).
func Message(code int) string { return errorMessages[code] }

// Error implements the error interface as "<message> (<cause>) [<index>]".
func (e *Error) Error() string {
	return e.Message + " (" + e.Cause + ") [" + uitoa(e.Index) + "]"
}

// StatusCode is the HTTP status etcd 2.x and 0.4 answer for the code:
// 100 → 404; 101, 105 → 412; 102, 108 → 403; 110 → 401; 3xx → 500; every
// other code (104, 107, 2xx, 401, ...) → 400.
func (e *Error) StatusCode() int { return StatusForCode(e.Code) }

// StatusForCode is StatusCode for a bare code.
func StatusForCode(code int) int {
	switch {
	case code == EcodeKeyNotFound:
		return http.StatusNotFound
	case code == EcodeTestFailed || code == EcodeNodeExist:
		return http.StatusPreconditionFailed
	case code == EcodeNotFile || code == EcodeDirNotEmpty:
		return http.StatusForbidden
	case code == EcodeUnauthorized:
		return http.StatusUnauthorized
	case code >= 300 && code < 400:
		return http.StatusInternalServerError
	default:
		return http.StatusBadRequest
	}
}

// JSON renders the error body exactly as etcd does: compact JSON in field
// order errorCode, message, cause (omitted when empty), index.
func (e *Error) JSON() []byte {
	b, _ := json.Marshal(e)
	return b
}

func uitoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for v > 0 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return string(buf[i:])
}
