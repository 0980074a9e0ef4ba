package conf

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch calls onChange when any of files changes on disk, after writes
// settle for debounce. It watches the directories, not the files, so
// editors that save by rename and Kubernetes ConfigMap symlink swaps are
// seen too. It returns when ctx ends.
func Watch(ctx context.Context, files []string, debounce time.Duration, onChange func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	defer w.Close()
	want := map[string]bool{}
	dirs := map[string]bool{}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("watch config: %w", err)
		}
		want[abs] = true
		dirs[filepath.Dir(abs)] = true
	}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			return fmt.Errorf("watch config dir %s: %w", d, err)
		}
	}
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-w.Events:
			abs, _ := filepath.Abs(ev.Name)
			if !want[abs] && filepath.Base(ev.Name) != "..data" {
				continue
			}
			if timer != nil {
				timer.Stop()
			}
			timer = time.AfterFunc(debounce, func() {
				select {
				case fire <- struct{}{}:
				default:
				}
			})
		case <-fire:
			onChange()
		case err := <-w.Errors:
			if err != nil {
				return fmt.Errorf("watch config: %w", err)
			}
		}
	}
}
