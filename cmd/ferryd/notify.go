package main

import (
	"log/slog"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notify sends state to systemd when it started us with Type=notify
// ($NOTIFY_SOCKET set); elsewhere it does nothing. A failed send is only
// logged: systemd then times the start out, which says more than we could.
func notify(log *slog.Logger, state string) {
	sent, err := daemon.SdNotify(false, state)
	if err != nil {
		log.Warn("systemd notify failed", "state", state, "err", err)
	} else if sent {
		log.Debug("systemd notified", "state", state)
	}
}
