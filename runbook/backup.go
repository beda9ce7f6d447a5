package runbook

import "time"

// BackupSet is one backup a target holds, as `drillbook backups` lists it:
// a directory under the target's backup root that one backup run wrote.
type BackupSet struct {
	// Product is the adapter that wrote it (was, messagesight, rabbitmq).
	Product string `json:"product"`
	// Name is the set's name (its directory's name).
	Name string `json:"name"`
	// Path is where the set is, on Host.
	Path string `json:"path"`
	// Host is the host the set is on; empty means the local machine.
	Host string `json:"host,omitempty"`
	// Taken is when the backup started; zero when unknown.
	Taken time.Time `json:"taken"`
	// Sealed says the backup completed and recorded every part: only a
	// sealed set is offered for a restore without an override.
	Sealed bool `json:"sealed"`
	// Parts are what the set holds (configuration, data store, messages).
	Parts []BackupPart `json:"parts,omitempty"`
	// Problem says what is wrong with the set ("not sealed: the backup did
	// not finish", "parts taken 2h apart"); empty when nothing is.
	Problem string `json:"problem,omitempty"`
}

// BackupPart is one part of a backup set.
type BackupPart struct {
	// Name says what the part is ("configuration", "data store ME1").
	Name string `json:"name"`
	// Path is the part's file or directory, relative to the set.
	Path string `json:"path,omitempty"`
	// Taken is when the part was taken; zero when unknown.
	Taken time.Time `json:"taken"`
	// Size is the part's size in bytes; -1 when unknown.
	Size int64 `json:"size"`
}
