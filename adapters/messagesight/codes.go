package messagesight

// explanations say, for each CWLNA code the admin API returns (reference
// §12 and §6.4), what it means for the operator and what to do.
func explanations() map[string]string {
	return map[string]string{
		"CWLNA6011": "the change was accepted",
		"CWLNA0010": "the server runs the request asynchronously: poll its status",
		"CWLNA0100": "the server hit a system error: look at its logs (diag/logs) and retry",
		"CWLNA0102": "the server does not implement this call: start the server from its platform (docker start, systemctl start imaserver)",
		"CWLNA0112": "a property value is not valid: fix the value named in the message",
		"CWLNA0113": "the item does not exist on the server: check the file or object name (GET /ima/v1/service/fileList lists files)",
		"CWLNA0115": "the request carries an argument the server does not accept: this is a drillbook bug, report it",
		"CWLNA0127": "a property has the wrong type: this is a drillbook bug, report it",
		"CWLNA0134": "a required property is missing or invalid: give the property named in the message",
		"CWLNA0137": "the server has no such REST call (there is no backup or restore endpoint: back up by export plus a store copy in maintenance mode)",
		"CWLNA0145": "an imported configuration waits for a restart: restart the server ({\"Service\":\"Server\",\"Maintenance\":\"stop\"}) before changing anything else",
		"CWLNA0180": "the admin user may not do this: give it a configuration policy with Configure or Manage",
		"CWLNA0353": "the HA pair is synchronising: wait until status shows the standby in sync, then retry",
		"CWLNA0372": "this object cannot be deleted",
		"CWLNA0383": "the server could not create its userfiles directory: check the disk of the server",
		"CWLNA0384": "the server is a cluster member and its store cannot be cleaned: remove it from the cluster first (reference §7.2)",
		"CWLNA0387": "the license has not been accepted: accept it with the REST API, then retry",
		"CWLNA0401": "the HTTP request is not authorized: check messagesight user and password in targets.yaml",
		"CWLNA0404": "the path does not exist on the server: check that messagesight url points at the admin endpoint",
		"CWLNA0500": "the store is not available: look at the server's trace; clean the store or restore a store backup if it cannot be recovered",
		"CWLNA0501": "the store data cannot be recovered: restore a store backup (messagesight-restore) or clean the store, then restart the server out of maintenance",
		"CWLNA0509": "the store's HA start failed: see the HighAvailability ReasonCode of status for why",
		"CWLNA0510": "an HA configuration parameter is wrong: fix the HighAvailability object",
		"CWLNA0511": "the HA partner was not found in time: start both nodes one right after the other",
		"CWLNA0512": "both nodes acted as primary (split brain): keep the node with the newer data, clean the other's store",
		"CWLNA0514": "both nodes hold data in their stores: clean the standby's store and restart both, the primary first",
		"CWLNA6001": "the server could not parse the request: this is a drillbook bug, report it",
		"CWLNA6121": "this node is the standby and refuses configuration changes: run the step on the primary",
		"CWLNA6213": "the backup file is truncated or damaged: download it again from where it was stored",
		"CWLNA6214": "the backup file's structure is invalid (a text-mode transfer?): copy it again in binary mode",
		"CWLNA6215": "the server ran out of memory packing the backup: free memory and retry",
		"CWLNA6216": "the backup archive failed its test: download it again or use another backup",
		"CWLNA6217": "the backup was interrupted: run it again",
		"CWLNA6218": "the server could not use a temporary file: check the free space on the server",
		"CWLNA6219": "the server could not read the backup file: check the file and the server's disk",
		"CWLNA6220": "the server could not write the backup (disk full?): free space on the server and retry",
		"CWLNA6221": "the server could not create the backup file: check the file name and the server's disk",
		"CWLNA6222": "the server could not read a file it had to back up: check permissions on the server",
		"CWLNA6223": "the backup file is not in the server's userfiles: upload it first (messagesight.upload) with exactly this name",
		"CWLNA6224": "the server could not create its restore directory: check the free space on the server",
		"CWLNA6225": "the server could not be stopped for the restore: stop it from its platform and retry",
		"CWLNA6226": "MQ Connectivity could not be stopped for the restore: stop it and retry",
		"CWLNA6227": "openldap could not be stopped for the restore: stop it and retry",
		"CWLNA6228": "the backup file has no imaBackup.lst: it is not a configuration backup",
		"CWLNA6229": "the server could not apply the backup's configuration: look at backup.log on the server",
		"CWLNA6230": "the server did not start after the restore: start it from its platform and check its logs",
		"CWLNA6231": "the backup password is wrong: give the password the configuration was exported with",
		"CWLNA6232": "the backup file failed its integrity check: it was altered or damaged; use another copy",
	}
}

// Explain says what a CWLNA code (or, without one, an HTTP status) means
// and what to do; "" when nothing useful is known.
func Explain(code string, status int) string {
	if e, ok := explanations()[code]; ok {
		return e
	}
	switch status {
	case 401:
		return "the admin user or password was refused: check messagesight user and password in targets.yaml"
	case 403:
		return "the server forbids this change"
	case 404:
		return "the server has no such item or path: check messagesight url and the names given"
	case 503:
		return "monitoring data is not available yet: retry shortly"
	}
	if status >= 500 {
		return "the server failed: look at its logs and retry"
	}
	return ""
}
