package raftfsm

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/sirupsen/logrus"
)

// newRaftLogger returns an hclog.Logger for hashicorp/raft whose lines go
// to log at the same level: hclog writes JSON lines into a writer that
// re-emits each one as a logrus entry with the line's fields.
func newRaftLogger(log *logrus.Entry) hclog.Logger {
	level := hclog.Info
	switch log.Logger.GetLevel() {
	case logrus.TraceLevel:
		level = hclog.Trace
	case logrus.DebugLevel:
		level = hclog.Debug
	case logrus.WarnLevel:
		level = hclog.Warn
	case logrus.ErrorLevel, logrus.FatalLevel, logrus.PanicLevel:
		level = hclog.Error
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "raft",
		Level:      level,
		Output:     &hclogWriter{log: log},
		JSONFormat: true,
	})
}

type hclogWriter struct {
	mu  sync.Mutex
	log *logrus.Entry
}

func (w *hclogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, line := range bytes.Split(p, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			w.log.Info(string(line))
			continue
		}
		msg, _ := m["@message"].(string)
		lvl, _ := m["@level"].(string)
		fields := logrus.Fields{}
		for k, v := range m {
			if !strings.HasPrefix(k, "@") {
				fields[k] = v
			}
		}
		e := w.log.WithFields(fields)
		if msg == "skipping application of old log" && fields["index"] == 0.0 {
			// raft's commit-restore step finding nothing to restore, on
			// every start (restore.go): not worth a warning.
			lvl = "debug"
		}
		switch lvl {
		case "trace":
			e.Trace(msg)
		case "debug":
			e.Debug(msg)
		case "warn":
			e.Warn(msg)
		case "error":
			e.Error(msg)
		default:
			e.Info(msg)
		}
	}
	return len(p), nil
}
