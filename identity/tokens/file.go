package tokens

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"time"
)

// File reads a token from a file and re-reads it when it changes: the
// Kubernetes projected service-account token (which the kubelet rotates
// by swapping a symlink) or any sidecar agent that writes a token file.
type File struct {
	path string

	mu      sync.Mutex
	tok     string
	exp     time.Time // zero when the token is not a JWT with exp
	mtime   time.Time
	size    int64
	checked time.Time
	readAt  time.Time
}

// fileCheckEvery bounds how often the file is stat'ed; fileRereadEvery
// forces a read even when mtime and size look unchanged. Variables so
// tests need not wait.
var (
	fileCheckEvery  = time.Second
	fileRereadEvery = 30 * time.Second
)

// NewFile reads path now, so a missing or empty file is a config error at
// start rather than a failed request later.
func NewFile(path string) (*File, error) {
	f := &File{path: path}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) load() error {
	st, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("tokens: token file: %w", err)
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("tokens: token file: %w", err)
	}
	tok := string(bytes.TrimSpace(b))
	if tok == "" {
		return fmt.Errorf("tokens: token file %s is empty", f.path)
	}
	exp, _ := jwtExpiry(tok)
	f.tok, f.exp, f.mtime, f.size, f.readAt = tok, exp, st.ModTime(), st.Size(), time.Now()
	return nil
}

// Token returns the file's current token. A file that vanished or is
// being rewritten keeps serving the last good token until that token
// expires.
func (f *File) Token(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if now.Sub(f.checked) >= fileCheckEvery {
		f.checked = now
		st, err := os.Stat(f.path)
		if err == nil && (!st.ModTime().Equal(f.mtime) || st.Size() != f.size || now.Sub(f.readAt) >= fileRereadEvery) {
			_ = f.load() // on failure the old token stays
		}
	}
	if !f.exp.IsZero() && !now.Before(f.exp) {
		return "", fmt.Errorf("tokens: %w: the token in %s expired at %s and the file was not renewed (is the kubelet or token agent running?)", ErrNoToken, f.path, f.exp.UTC().Format(time.RFC3339))
	}
	return f.tok, nil
}
