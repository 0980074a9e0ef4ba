package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// TokenSource gives the bearer token (a JWT) to send with each request. It
// is called per request, so an implementation caches and refreshes.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// StaticToken is a TokenSource that always returns the same token, for
// long-lived service tokens and tests.
type StaticToken string

// Token implements TokenSource.
func (t StaticToken) Token(context.Context) (string, error) {
	if t == "" {
		return "", errors.New("client: static token is empty")
	}
	return string(t), nil
}

// FileToken reads the token from a file and reads it again when the file
// changes (size or modification time), as with Kubernetes projected
// service-account tokens that the kubelet rotates in place.
type FileToken struct {
	path  string
	every time.Duration

	mu      sync.Mutex
	token   string
	mod     time.Time
	size    int64
	checked time.Time
}

// NewFileToken reads path now, so a missing file fails at start-up, not on
// the first request. The file is checked for changes at most once per
// checkEvery (0: on every call).
func NewFileToken(path string, checkEvery time.Duration) (*FileToken, error) {
	f := &FileToken{path: path, every: checkEvery}
	if err := f.reload(time.Now()); err != nil {
		return nil, err
	}
	return f, nil
}

// Token implements TokenSource.
func (f *FileToken) Token(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if f.every == 0 || now.Sub(f.checked) >= f.every {
		if err := f.reloadLocked(now); err != nil {
			if f.token != "" {
				return f.token, nil // keep the last good token through a rotation
			}
			return "", err
		}
	}
	return f.token, nil
}

func (f *FileToken) reload(now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloadLocked(now)
}

func (f *FileToken) reloadLocked(now time.Time) error {
	f.checked = now
	st, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("client: token file: %w", err)
	}
	if f.token != "" && st.ModTime().Equal(f.mod) && st.Size() == f.size {
		return nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("client: token file: %w", err)
	}
	tok := string(bytes.TrimSpace(b))
	if tok == "" {
		return fmt.Errorf("client: token file %s is empty", f.path)
	}
	f.token, f.mod, f.size = tok, st.ModTime(), st.Size()
	return nil
}
