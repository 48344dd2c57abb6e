#!/bin/sh
# dkv installer (POSIX sh). Downloads a release archive and SHA256SUMS,
# verifies the checksum, installs the binary; with --systemd also the service.
#
#   curl -fsSL https://.../install.sh | sh
#   curl -fsSL https://.../install.sh | sudo sh -s -- --systemd
#   sh install.sh [--systemd]
#
# Environment:
#   DKV_VERSION           release to install (default: the one below)
#   DKV_INSTALL_BASE_URL  where dkv_<version>_linux_<arch>.tar.gz and SHA256SUMS
#                         are (default: $DKV_RELEASES_URL/v<version>)
#   DKV_INSTALL_DIR       directory for the binary (default /usr/local/bin)
#   DKV_INSTALL_ROOT      prefix for every path written, for packaging and
#                         tests; no user is created and systemctl is not run
#
# Everything runs from main() at the very end, so a download cut short by the
# network executes nothing.

set -eu

DKV_DEFAULT_VERSION="0.1.0"
# Where releases are published, one directory per version (v<version>/).
# Placeholder until there is a public release host (".example" never
# resolves, so nothing is fetched from a stranger): set the real one here.
DKV_RELEASES_URL="https://releases.dkv.example"

log() { printf 'dkv install: %s\n' "$*" >&2; }
die() {
	printf 'dkv install: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	cat <<'EOF'
usage: install.sh [--systemd] [--help]
  --systemd  also create the dkv user, /var/lib/dkv, /etc/dkv/dkv.env and the
             dkv.service unit, and enable it (needs root)
Environment: DKV_VERSION, DKV_INSTALL_BASE_URL, DKV_INSTALL_DIR, DKV_INSTALL_ROOT
EOF
}

# Archive arch names are goreleaser's (amd64, arm64), as in the release config.
detect_arch() {
	machine=$(uname -m)
	case "$machine" in
	x86_64 | amd64) echo amd64 ;;
	aarch64 | arm64 | armv8*) echo arm64 ;;
	*) die "no dkv build for CPU architecture '$machine' (there are linux amd64 and arm64)" ;;
	esac
}

detect_os() {
	os=$(uname -s)
	case "$os" in
	Linux) echo linux ;;
	*) die "no dkv build for '$os' (dkv releases are for Linux)" ;;
	esac
}

# download URL FILE: curl or wget, failing on HTTP errors.
download() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsSL --retry 3 -o "$2" "$1" || die "could not download $1"
	elif command -v wget >/dev/null 2>&1; then
		wget -q -O "$2" "$1" || die "could not download $1"
	else
		die "neither curl nor wget is installed; install one of them"
	fi
}

sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d ' ' -f 1
	elif command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | cut -d ' ' -f 1
	else
		die "neither sha256sum nor shasum is installed: cannot verify the download"
	fi
}

# verify_checksum ARCHIVE_PATH ARCHIVE_NAME SUMS_PATH: refuse unless the
# archive's SHA-256 is the one SHA256SUMS lists for its name.
verify_checksum() {
	expected=$(awk -v name="$2" '$2 == name || $2 == "*" name { print $1; exit }' "$3")
	[ -n "$expected" ] || die "SHA256SUMS lists no checksum for $2; refusing to install"
	actual=$(sha256_of "$1")
	if [ "$actual" != "$expected" ]; then
		die "checksum mismatch for $2: SHA256SUMS says $expected, the download is $actual; refusing to install (nothing was installed)"
	fi
	log "checksum OK for $2"
}

# install_file SOURCE DEST MODE: copy next to DEST, then rename over it, so a
# running dkv keeps its old inode and a failed copy leaves the old file intact.
install_file() {
	tmp_dest="$2.tmp.$$"
	cp "$1" "$tmp_dest" || die "could not write $tmp_dest"
	chmod "$3" "$tmp_dest"
	mv -f "$tmp_dest" "$2" || die "could not replace $2"
}

write_env_template() {
	cat >"$1" <<'EOF'
# dkv member settings, read by dkv.service (EnvironmentFile=).
# Every `dkv serve` flag can be set here as DKV_<FLAG_IN_UPPER_SNAKE>.
# Plain KEY=value lines: no quotes, no shell expansion. Apply changes with
#   systemctl restart dkv
# With nothing set, dkv runs a single-node store on 127.0.0.1:2379.

DKV_DATA_DIR=/var/lib/dkv

# This member and how others reach it.
#DKV_NAME=node1
#DKV_LISTEN_PEER_ADDRESS=0.0.0.0:2380
#DKV_ADVERTISE_PEER_ADDRESS=10.0.0.1:2380
#DKV_LISTEN_CLIENT_ADDRESS=0.0.0.0:2379
#DKV_ADVERTISE_CLIENT_ADDRESS=10.0.0.1:2379
#DKV_LISTEN_METRICS_ADDRESS=127.0.0.1:2381

# The cluster: the same list on every member (state "existing" to join one).
#DKV_INITIAL_CLUSTER=node1=10.0.0.1:2380,node2=10.0.0.2:2380,node3=10.0.0.3:2380
#DKV_INITIAL_CLUSTER_STATE=new
#DKV_INITIAL_CLUSTER_TOKEN=dkv-cluster

# Mutual TLS between members (mint with `dkv certs`). The dkv user must be
# able to read the key: e.g. /etc/dkv/pki root:dkv 0750, keys 0640.
#DKV_PEER_CERT_FILE=/etc/dkv/pki/node1.crt
#DKV_PEER_KEY_FILE=/etc/dkv/pki/node1.key
#DKV_PEER_TRUSTED_CA_FILE=/etc/dkv/pki/ca.crt

# TLS for the client API (a trusted CA makes client certificates mandatory).
#DKV_CERT_FILE=/etc/dkv/pki/node1-server.crt
#DKV_KEY_FILE=/etc/dkv/pki/node1-server.key
#DKV_TRUSTED_CA_FILE=/etc/dkv/pki/ca.crt

# Users and roles for the client API (hashes from `dkv auth hash`; see README).
# The dkv user must be able to read it; the same file on every member.
#DKV_AUTH_FILE=/etc/dkv/users.json

# Tuning.
#DKV_HEARTBEAT_INTERVAL=100ms
#DKV_ELECTION_TIMEOUT=1000ms
#DKV_SNAPSHOT_COUNT=100000
# Keys live in memory: writes past this many bytes of keys and values are refused.
#DKV_QUOTA_BYTES=2147483648
# true: the client API's HTTP work runs on a thread of its own instead of raft's
# (faster writes at high concurrency, slower reads; see BENCHMARKS.md).
#DKV_API_WORKER=false
#DKV_LOG_LEVEL=info
EOF
}

install_systemd() {
	unit_source="$1"
	bin_path="$2"
	data_dir="$ROOT/var/lib/dkv"
	conf_dir="$ROOT/etc/dkv"
	env_file="$conf_dir/dkv.env"
	unit_dir="$ROOT/etc/systemd/system"

	if [ -n "$ROOT" ]; then
		log "DKV_INSTALL_ROOT is set: not creating the system user dkv (useradd --system dkv)"
	elif id dkv >/dev/null 2>&1; then
		log "system user dkv exists"
	else
		command -v useradd >/dev/null 2>&1 || die "useradd is missing: create a system user 'dkv' yourself and run again"
		nologin=/usr/sbin/nologin
		[ -x "$nologin" ] || nologin=/sbin/nologin
		useradd --system --user-group --home-dir /var/lib/dkv --no-create-home --shell "$nologin" dkv ||
			die "could not create the system user dkv"
		log "created system user dkv"
	fi

	# The data dir holds the raft log and every value: only dkv may read it.
	mkdir -p "$data_dir"
	chmod 0700 "$data_dir"
	if [ -n "$ROOT" ]; then
		log "data dir $data_dir (0700; chown dkv:dkv it on the target)"
	else
		chown dkv:dkv "$data_dir"
		log "data dir $data_dir (0700, owner dkv)"
	fi

	mkdir -p "$conf_dir"
	chmod 0755 "$conf_dir"
	if [ -e "$env_file" ]; then
		log "kept existing $env_file"
	else
		write_env_template "$env_file.tmp.$$"
		chmod 0640 "$env_file.tmp.$$"
		[ -n "$ROOT" ] || chown root:dkv "$env_file.tmp.$$"
		mv "$env_file.tmp.$$" "$env_file"
		log "wrote $env_file (a commented template; edit it to form a cluster)"
	fi

	# The unit names the binary; point it at where this run installed it.
	mkdir -p "$unit_dir"
	sed "s#^ExecStart=/usr/local/bin/dkv #ExecStart=$bin_path #" "$unit_source" >"$TMP_DIR/dkv.service"
	install_file "$TMP_DIR/dkv.service" "$unit_dir/dkv.service" 0644
	log "installed $unit_dir/dkv.service (customise with: systemctl edit dkv)"

	if [ -n "$ROOT" ]; then
		log "DKV_INSTALL_ROOT is set: not running systemctl; on the target run: systemctl daemon-reload && systemctl enable --now dkv"
	elif [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl daemon-reload || die "systemctl daemon-reload failed"
		systemctl enable --now dkv || die "systemctl enable --now dkv failed; see: journalctl -u dkv"
		log "dkv.service enabled and started; follow it with: journalctl -u dkv -f"
	else
		log "systemd is not running here, so dkv.service was not started."
		log "on a systemd host run: systemctl daemon-reload && systemctl enable --now dkv"
		log "or run it by hand as user dkv: $bin_path serve, with the settings of $env_file in its environment"
	fi
}

main() {
	with_systemd=0
	for arg in "$@"; do
		case "$arg" in
		--systemd) with_systemd=1 ;;
		-h | --help)
			usage
			exit 0
			;;
		*)
			usage >&2
			die "unknown argument '$arg'"
			;;
		esac
	done

	ROOT="${DKV_INSTALL_ROOT:-}"
	ROOT="${ROOT%/}"
	version="${DKV_VERSION:-$DKV_DEFAULT_VERSION}"
	version="${version#v}"
	base_url="${DKV_INSTALL_BASE_URL:-$DKV_RELEASES_URL/v$version}"
	base_url="${base_url%/}"
	bin_dir="${DKV_INSTALL_DIR:-/usr/local/bin}"
	case "$bin_dir" in
	/*) ;;
	*) die "DKV_INSTALL_DIR must be an absolute path, not '$bin_dir'" ;;
	esac

	if [ -z "$ROOT" ] && [ "$with_systemd" = 1 ] && [ "$(id -u)" != 0 ]; then
		die "--systemd creates a user and writes /etc: run as root (curl ... | sudo sh -s -- --systemd)"
	fi

	os=$(detect_os)
	arch=$(detect_arch)
	archive="dkv_${version}_${os}_${arch}.tar.gz"

	TMP_DIR=$(mktemp -d 2>/dev/null || mktemp -d -t dkv-install) || die "could not create a temporary directory"
	trap 'rm -rf "$TMP_DIR"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	log "downloading dkv $version for $os/$arch from $base_url"
	download "$base_url/$archive" "$TMP_DIR/$archive"
	download "$base_url/SHA256SUMS" "$TMP_DIR/SHA256SUMS"
	verify_checksum "$TMP_DIR/$archive" "$archive" "$TMP_DIR/SHA256SUMS"

	mkdir "$TMP_DIR/x"
	tar -xzf "$TMP_DIR/$archive" -C "$TMP_DIR/x" || die "could not unpack $archive"
	[ -f "$TMP_DIR/x/dkv" ] || die "$archive has no dkv binary at its top"

	dest_dir="$ROOT$bin_dir"
	mkdir -p "$dest_dir" 2>/dev/null || true
	if [ ! -d "$dest_dir" ] || [ ! -w "$dest_dir" ]; then
		die "cannot write to $dest_dir: run as root (sudo sh), or set DKV_INSTALL_DIR to a directory you own"
	fi
	install_file "$TMP_DIR/x/dkv" "$dest_dir/dkv" 0755
	log "installed $dest_dir/dkv"
	if installed_version=$("$dest_dir/dkv" --version 2>/dev/null); then
		log "$installed_version"
	else
		log "warning: $dest_dir/dkv --version did not run on this machine"
	fi

	if [ "$with_systemd" = 1 ]; then
		[ -f "$TMP_DIR/x/systemd/dkv.service" ] || die "$archive has no systemd/dkv.service"
		install_systemd "$TMP_DIR/x/systemd/dkv.service" "$bin_dir/dkv"
	fi
}

main "$@"
