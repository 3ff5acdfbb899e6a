package twilio

import (
	"errors"
	"fmt"
	"net/http"
)

// Twilio error codes the connector acts on.
const (
	CodeAuthenticate    = 20003 // wrong credentials, or a key that may not read the resource
	CodeNotFound        = 20404
	CodeTooManyRequests = 20429
)

// APIError is a request Twilio answered with an error status. Its text
// names the request (method and path, never credentials).
type APIError struct {
	Method   string
	Path     string // path and query of the request
	Status   int    // HTTP status
	Code     int    // Twilio error code, 0 when the body had none
	Message  string
	MoreInfo string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Code != 0 {
		s += fmt.Sprintf(", Twilio error %d", e.Code)
	}
	s += ": " + msg
	if e.MoreInfo != "" {
		s += " (" + e.MoreInfo + ")"
	}
	return s
}

// IsNotFound reports whether err is Twilio's 404.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Code == CodeNotFound)
}

// IsUnauthorized reports whether err is Twilio's 401: wrong credentials,
// or a key that may not read the resource.
func IsUnauthorized(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Code == CodeAuthenticate)
}

// IsServerError reports whether err is a 5xx that retries did not cure.
func IsServerError(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status >= 500
}

// IsTransient reports whether retrying the whole operation later may
// succeed: rate limits, server errors, bodies cut short or malformed, and
// network failures.
func IsTransient(err error) bool {
	var e *APIError
	if errors.As(err, &e) {
		return e.Status == http.StatusTooManyRequests || e.Status >= 500
	}
	var t *truncatedError
	var m *malformedError
	return errors.As(err, &t) || errors.As(err, &m) || errors.Is(err, errNetwork)
}

var errNetwork = errors.New("network error")
