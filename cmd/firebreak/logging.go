package main

import (
	"io"
	"time"

	"github.com/sirupsen/logrus"
)

// newLogger builds the process logger: JSON in production, text for people;
// timestamps to the nanosecond (incidents are measured in milliseconds).
func newLogger(w io.Writer, level, format string) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(w)
	if lv, err := logrus.ParseLevel(level); err == nil {
		l.SetLevel(lv)
	}
	if format == "text" {
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "2006-01-02T15:04:05.000Z07:00"})
	} else {
		l.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano})
	}
	return l
}
