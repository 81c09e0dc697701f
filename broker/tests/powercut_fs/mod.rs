//! An in-memory FUSE filesystem that can lose power, for the power-cut tests.
//!
//! Every file keeps two versions of its bytes: what processes see (`data`) and what an
//! `fsync`/`fdatasync` of that file last made durable (`durable`). Every directory keeps
//! two versions of its entries the same way, made durable by an fsync of the directory
//! (so a file created, renamed or unlinked since its directory's last fsync comes back as
//! it was). [`Disk::cut_power`] unmounts (dropping the kernel's page cache, as a reboot
//! does) and reverts everything to its durable version; what no durable entry reaches is
//! gone. That is the strictest behaviour POSIX allows a disk, and the one a durable log
//! must survive.
//!
//! Writes: `rilld` writes segments with `pwrite` into pre-sized (sparse) files and reads
//! them through read-only shared maps. The mount does not enable FUSE's writeback cache,
//! so every `pwrite` reaches this filesystem before it returns (write-through) and the
//! mapped pages see the same bytes; no `FOPEN_DIRECT_IO` is set, since that would forbid
//! shared maps. Pages are 4 KiB and stored sparsely, so a 16 MiB pre-sized segment costs
//! only the pages written; `SEEK_DATA`/`SEEK_HOLE` are answered from that map.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation,
    INodeNo, MountOption, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyLseek, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

const PAGE_BYTES: u64 = 4096;
/// Attributes and entries are never cached by the kernel: every stat sees this model.
const TTL: Duration = Duration::ZERO;
/// Bytes this filesystem will hold in memory at most (the tests write far less).
const CAPACITY_BYTES: u64 = 2 << 30;

/// A file's bytes: a length and its non-hole 4 KiB pages.
#[derive(Debug, Clone, Default)]
struct FileData {
    len: u64,
    pages: BTreeMap<u64, Arc<Vec<u8>>>,
}

impl FileData {
    fn read(&self, offset: u64, size: u64) -> Vec<u8> {
        let end = self.len.min(offset.saturating_add(size));
        if offset >= end {
            return Vec::new();
        }
        let mut out = vec![0u8; (end - offset) as usize];
        let (first, last) = (offset / PAGE_BYTES, (end - 1) / PAGE_BYTES);
        for (&index, page) in self.pages.range(first..=last) {
            let page_start = index * PAGE_BYTES;
            let from = offset.max(page_start);
            let to = end.min(page_start + PAGE_BYTES);
            out[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&page[(from - page_start) as usize..(to - page_start) as usize]);
        }
        out
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let mut position = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let index = position / PAGE_BYTES;
            let within = (position % PAGE_BYTES) as usize;
            let n = rest.len().min(PAGE_BYTES as usize - within);
            let page = self
                .pages
                .entry(index)
                .or_insert_with(|| Arc::new(vec![0u8; PAGE_BYTES as usize]));
            Arc::make_mut(page)[within..within + n].copy_from_slice(&rest[..n]);
            position += n as u64;
            rest = &rest[n..];
        }
        self.len = self.len.max(offset + data.len() as u64);
    }

    fn set_len(&mut self, len: u64) {
        if len < self.len {
            let first_gone = len.div_ceil(PAGE_BYTES);
            self.pages.split_off(&first_gone);
            let within = (len % PAGE_BYTES) as usize;
            if within > 0 {
                if let Some(page) = self.pages.get_mut(&(len / PAGE_BYTES)) {
                    Arc::make_mut(page)[within..].fill(0);
                }
            }
        }
        self.len = len;
    }

    /// `SEEK_DATA` (`data = true`) or `SEEK_HOLE` from `offset`; `None` is ENXIO.
    fn seek(&self, offset: u64, data: bool) -> Option<u64> {
        if offset >= self.len {
            return None;
        }
        let mut index = offset / PAGE_BYTES;
        loop {
            let position = (index * PAGE_BYTES).max(offset);
            if position >= self.len {
                return if data { None } else { Some(self.len) };
            }
            if self.pages.contains_key(&index) == data {
                return Some(position);
            }
            index += 1;
        }
    }
}

#[derive(Debug, Clone)]
enum Body {
    File {
        data: FileData,
        durable: FileData,
    },
    Dir {
        entries: BTreeMap<OsString, u64>,
        durable: BTreeMap<OsString, u64>,
    },
}

/// Counters a test can check to see that the harness really ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// File fsyncs (data made durable).
    pub file_syncs: u64,
    /// Directory fsyncs (entries made durable).
    pub dir_syncs: u64,
    /// Writes received.
    pub writes: u64,
    /// Power cuts.
    pub power_cuts: u64,
}

/// The whole filesystem: inodes by number; 1 is the root directory.
#[derive(Debug)]
struct State {
    nodes: HashMap<u64, Body>,
    next_ino: u64,
    stats: DiskStats,
}

impl State {
    fn new() -> Self {
        let root = Body::Dir {
            entries: BTreeMap::new(),
            durable: BTreeMap::new(),
        };
        State {
            nodes: HashMap::from([(INodeNo::ROOT.0, root)]),
            next_ino: 2,
            stats: DiskStats::default(),
        }
    }

    fn bytes_held(&self) -> u64 {
        self.nodes
            .values()
            .map(|b| match b {
                Body::File { data, .. } => data.pages.len() as u64 * PAGE_BYTES,
                Body::Dir { .. } => 0,
            })
            .sum()
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let (kind, size, perm, nlink) = match self.nodes.get(&ino)? {
            Body::File { data, .. } => (FileType::RegularFile, data.len, 0o644, 1),
            Body::Dir { .. } => (FileType::Directory, 0, 0o755, 2),
        };
        let blocks = match self.nodes.get(&ino)? {
            Body::File { data, .. } => data.pages.len() as u64 * (PAGE_BYTES / 512),
            Body::Dir { .. } => 0,
        };
        Some(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks,
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind,
            perm,
            nlink,
            // SAFETY: getuid/getgid cannot fail and touch no memory.
            uid: unsafe { libc::getuid() },
            // SAFETY: as above.
            gid: unsafe { libc::getgid() },
            rdev: 0,
            blksize: PAGE_BYTES as u32,
            flags: 0,
        })
    }

    fn entries(&mut self, ino: u64) -> Result<&mut BTreeMap<OsString, u64>, Errno> {
        match self.nodes.get_mut(&ino) {
            Some(Body::Dir { entries, .. }) => Ok(entries),
            Some(Body::File { .. }) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    fn file(&mut self, ino: u64) -> Result<&mut FileData, Errno> {
        match self.nodes.get_mut(&ino) {
            Some(Body::File { data, .. }) => Ok(data),
            Some(Body::Dir { .. }) => Err(Errno::EISDIR),
            None => Err(Errno::ENOENT),
        }
    }

    fn child(&mut self, parent: u64, name: &OsStr) -> Result<u64, Errno> {
        self.entries(parent)?
            .get(name)
            .copied()
            .ok_or(Errno::ENOENT)
    }

    fn add(&mut self, parent: u64, name: &OsStr, body: Body) -> Result<u64, Errno> {
        if self.entries(parent)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, body);
        self.entries(parent)?.insert(name.to_owned(), ino);
        Ok(ino)
    }

    fn is_empty_dir(&self, ino: u64) -> bool {
        matches!(self.nodes.get(&ino), Some(Body::Dir { entries, .. }) if entries.is_empty())
    }

    /// Reverts every file and directory to what survives the cut and forgets what is then
    /// unreachable from the root. Without `torn`, what survives is exactly the durable
    /// version. With it, `random` also decides, piece by piece, what of the rest the kernel
    /// happened to write back before the cut: each page written since the file's last
    /// fsync, the file's length (old or new), each directory entry changed since the
    /// directory's last fsync.
    fn power_cut(&mut self, torn: bool, random: &mut impl FnMut() -> bool) {
        for body in self.nodes.values_mut() {
            match body {
                Body::File { data, durable } if torn => *data = torn_file(data, durable, random),
                Body::File { data, durable } => *data = durable.clone(),
                Body::Dir { entries, durable } if torn => {
                    *entries = torn_entries(entries, durable, random)
                }
                Body::Dir { entries, durable } => *entries = durable.clone(),
            }
        }
        let mut reachable = vec![INodeNo::ROOT.0];
        let mut seen = std::collections::HashSet::new();
        while let Some(ino) = reachable.pop() {
            if !seen.insert(ino) {
                continue;
            }
            if let Some(Body::Dir { entries, .. }) = self.nodes.get(&ino) {
                reachable.extend(entries.values().copied());
            }
        }
        self.nodes.retain(|ino, _| seen.contains(ino));
        self.stats.power_cuts += 1;
    }
}

/// A file after a cut that wrote back some of what was not fsynced: the durable pages,
/// overlaid with a random subset of the pages written since, at the old or new length.
fn torn_file(data: &FileData, durable: &FileData, random: &mut impl FnMut() -> bool) -> FileData {
    let mut out = durable.clone();
    for (index, page) in &data.pages {
        let unchanged = durable
            .pages
            .get(index)
            .is_some_and(|old| Arc::ptr_eq(old, page));
        if !unchanged && random() {
            out.pages.insert(*index, Arc::clone(page));
        }
    }
    let len = if random() { data.len } else { durable.len };
    out.pages.split_off(&len.div_ceil(PAGE_BYTES));
    let within = (len % PAGE_BYTES) as usize;
    if within > 0 {
        if let Some(page) = out.pages.get_mut(&(len / PAGE_BYTES)) {
            Arc::make_mut(page)[within..].fill(0);
        }
    }
    out.len = len;
    out
}

/// A directory after a cut that wrote back some entry changes made since its last fsync.
fn torn_entries(
    entries: &BTreeMap<OsString, u64>,
    durable: &BTreeMap<OsString, u64>,
    random: &mut impl FnMut() -> bool,
) -> BTreeMap<OsString, u64> {
    let mut out = durable.clone();
    let names: std::collections::BTreeSet<&OsString> =
        entries.keys().chain(durable.keys()).collect();
    for name in names {
        let now = entries.get(name);
        if now != durable.get(name) && random() {
            match now {
                Some(ino) => out.insert(name.clone(), *ino),
                None => out.remove(name),
            };
        }
    }
    out
}

/// The FUSE side: every call locks the state, answers, and unlocks.
struct PowerCutFs {
    state: Arc<Mutex<State>>,
}

impl PowerCutFs {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reply_new(&self, parent: u64, name: &OsStr, body: Body, reply: ReplyEntry) {
        let mut state = self.lock();
        match state.add(parent, name, body) {
            Ok(ino) => reply.entry(&TTL, &state.attr(ino).expect("just added"), Generation(0)),
            Err(e) => reply.error(e),
        }
    }
}

fn new_file() -> Body {
    Body::File {
        data: FileData::default(),
        durable: FileData::default(),
    }
}

impl fuser::Filesystem for PowerCutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut state = self.lock();
        match state.child(parent.0, name) {
            Ok(ino) => reply.entry(&TTL, &state.attr(ino).expect("linked"), Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.lock().attr(ino.0) {
            Some(attr) => reply.attr(&TTL, &attr),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut state = self.lock();
        if let Some(size) = size {
            match state.file(ino.0) {
                Ok(file) => file.set_len(size),
                Err(e) => return reply.error(e),
            }
        }
        match state.attr(ino.0) {
            Some(attr) => reply.attr(&TTL, &attr),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        self.reply_new(parent.0, name, new_file(), reply);
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let dir = Body::Dir {
            entries: BTreeMap::new(),
            durable: BTreeMap::new(),
        };
        self.reply_new(parent.0, name, dir, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut state = self.lock();
        let removed = state.child(parent.0, name).and_then(|ino| {
            if matches!(state.nodes.get(&ino), Some(Body::Dir { .. })) {
                return Err(Errno::EISDIR);
            }
            state.entries(parent.0)?.remove(name);
            Ok(())
        });
        match removed {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut state = self.lock();
        let removed = state.child(parent.0, name).and_then(|ino| {
            if !state.is_empty_dir(ino) {
                return Err(Errno::ENOTEMPTY);
            }
            state.entries(parent.0)?.remove(name);
            Ok(())
        });
        match removed {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut state = self.lock();
        let renamed = state.child(parent.0, name).and_then(|ino| {
            if let Ok(existing) = state.child(newparent.0, newname) {
                if matches!(state.nodes.get(&existing), Some(Body::Dir { .. }))
                    && !state.is_empty_dir(existing)
                {
                    return Err(Errno::ENOTEMPTY);
                }
            }
            state.entries(parent.0)?.remove(name);
            state.entries(newparent.0)?.insert(newname.to_owned(), ino);
            Ok(())
        });
        match renamed {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: fuser::OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        match self.lock().file(ino.0) {
            Ok(file) => reply.data(&file.read(offset, u64::from(size))),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: fuser::OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut state = self.lock();
        if state.bytes_held() + data.len() as u64 > CAPACITY_BYTES {
            return reply.error(Errno::from_i32(libc::ENOSPC));
        }
        state.stats.writes += 1;
        match state.file(ino.0) {
            Ok(file) => {
                file.write(offset, data);
                reply.written(data.len() as u32);
            }
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut state = self.lock();
        match state.nodes.get_mut(&ino.0) {
            Some(Body::File { data, durable }) => {
                *durable = data.clone();
                state.stats.file_syncs += 1;
                reply.ok();
            }
            Some(Body::Dir { entries, durable }) => {
                *durable = entries.clone();
                state.stats.dir_syncs += 1;
                reply.ok();
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let mut state = self.lock();
        let entries = match state.entries(ino.0) {
            Ok(entries) => entries.clone(),
            Err(e) => return reply.error(e),
        };
        let listed = [
            (ino.0, FileType::Directory, OsString::from(".")),
            (ino.0, FileType::Directory, OsString::from("..")),
        ]
        .into_iter()
        .chain(entries.into_iter().map(|(name, child)| {
            let kind = match state.nodes.get(&child) {
                Some(Body::Dir { .. }) => FileType::Directory,
                _ => FileType::RegularFile,
            };
            (child, kind, name)
        }));
        for (i, (child, kind, name)) in listed.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), i as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut state = self.lock();
        match state.nodes.get_mut(&ino.0) {
            Some(Body::Dir { entries, durable }) => {
                *durable = entries.clone();
                state.stats.dir_syncs += 1;
                reply.ok();
            }
            Some(Body::File { .. }) => reply.error(Errno::ENOTDIR),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let used = self.lock().bytes_held() / PAGE_BYTES;
        let blocks = CAPACITY_BYTES / PAGE_BYTES;
        let free = blocks.saturating_sub(used);
        reply.statfs(
            blocks,
            free,
            free,
            1 << 20,
            1 << 20,
            PAGE_BYTES as u32,
            255,
            PAGE_BYTES as u32,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        if mode & libc::S_IFMT != 0 && mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        let mut state = self.lock();
        match state.add(parent.0, name, new_file()) {
            Ok(ino) => reply.created(
                &TTL,
                &state.attr(ino).expect("just added"),
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn lseek(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        let data = match whence {
            libc::SEEK_DATA => true,
            libc::SEEK_HOLE => false,
            _ => return reply.error(Errno::EINVAL),
        };
        let Ok(offset) = u64::try_from(offset) else {
            return reply.error(Errno::EINVAL);
        };
        match self.lock().file(ino.0).map(|f| f.seek(offset, data)) {
            Ok(Some(found)) => reply.offset(found as i64),
            Ok(None) => reply.error(Errno::from_i32(libc::ENXIO)),
            Err(e) => reply.error(e),
        }
    }
}

/// True when this machine can mount FUSE file systems (the device exists and opens).
pub fn fuse_available() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .is_ok()
}

/// A FUSE mount of the power-cut filesystem in a temporary directory.
pub struct Disk {
    state: Arc<Mutex<State>>,
    mountpoint: tempfile::TempDir,
    session: Option<BackgroundSession>,
}

impl Disk {
    /// An empty disk, mounted.
    pub fn mount_new() -> std::io::Result<Disk> {
        let mut disk = Disk {
            state: Arc::new(Mutex::new(State::new())),
            mountpoint: tempfile::tempdir()?,
            session: None,
        };
        disk.mount()?;
        Ok(disk)
    }

    /// Where the disk is mounted.
    pub fn path(&self) -> &Path {
        self.mountpoint.path()
    }

    fn mount(&mut self) -> std::io::Result<()> {
        let fs = PowerCutFs {
            state: Arc::clone(&self.state),
        };
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("rill-powercut".into()),
            MountOption::RW,
            MountOption::NoAtime,
        ];
        self.session = Some(fuser::spawn_mount(fs, self.mountpoint.path(), &config)?);
        Ok(())
    }

    fn unmount(&mut self) -> std::io::Result<()> {
        match self.session.take().map(BackgroundSession::umount_and_join) {
            // The session loop ends reading the device of a detached mount with ENODEV or,
            // when the kernel aborts the connection first, ECONNABORTED: both mean unmounted.
            Some(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionAborted => Ok(()),
            Some(Err(e)) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            Some(outcome) => outcome,
            None => Ok(()),
        }
    }

    /// Cuts the power: unmounts (the kernel's caches go with the mount), drops every
    /// write, creation, rename and unlink not made durable by an fsync, and mounts the
    /// surviving state again. Whatever used the disk must have been killed first.
    pub fn cut_power(&mut self) -> std::io::Result<()> {
        self.cut(false, 0)
    }

    /// [`Self::cut_power`], except that a random part of what was not fsynced survives
    /// anyway (pages, lengths, directory entries: see `State::power_cut`), as when the
    /// kernel wrote some of it back before the cut. `seed` makes the choice repeatable.
    pub fn cut_power_torn(&mut self, seed: u64) -> std::io::Result<()> {
        self.cut(true, seed)
    }

    fn cut(&mut self, torn: bool, seed: u64) -> std::io::Result<()> {
        self.unmount()?;
        let mut x = seed | 1;
        let mut random = move || {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x & 1 == 1
        };
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .power_cut(torn, &mut random);
        self.mount()
    }

    /// What the filesystem has seen so far.
    pub fn stats(&self) -> DiskStats {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).stats
    }

    /// Paths (relative to the mount point) of the files that hold durable bytes.
    pub fn durable_files(&self) -> Vec<PathBuf> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let mut stack = vec![(INodeNo::ROOT.0, PathBuf::new())];
        while let Some((ino, path)) = stack.pop() {
            match state.nodes.get(&ino) {
                Some(Body::Dir { durable, .. }) => {
                    stack.extend(durable.iter().map(|(n, c)| (*c, path.join(n))))
                }
                Some(Body::File { durable, .. }) if durable.len > 0 => out.push(path),
                _ => {}
            }
        }
        out
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if let Err(e) = self.unmount() {
            eprintln!("powercut disk: unmount failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_cut_keeps_old_or_new_of_each_page_and_length() {
        let mut durable = FileData::default();
        durable.write(0, &[1u8; 2 * PAGE_BYTES as usize]);
        let mut data = durable.clone();
        data.write(PAGE_BYTES, &[2u8; 2 * PAGE_BYTES as usize]);
        let all_new = torn_file(&data, &durable, &mut || true);
        assert_eq!(all_new.read(0, u64::MAX), data.read(0, u64::MAX));
        let all_old = torn_file(&data, &durable, &mut || false);
        assert_eq!(all_old.read(0, u64::MAX), durable.read(0, u64::MAX));
        let mut flip = false;
        let mixed = torn_file(&data, &durable, &mut || {
            flip = !flip;
            flip
        });
        let bytes = mixed.read(0, u64::MAX);
        for (i, page) in bytes.chunks(PAGE_BYTES as usize).enumerate() {
            let old = durable.read(i as u64 * PAGE_BYTES, PAGE_BYTES);
            let new = data.read(i as u64 * PAGE_BYTES, PAGE_BYTES);
            // Past the old length, a page never written back reads as a hole.
            let hole = i as u64 * PAGE_BYTES >= durable.len && page.iter().all(|&b| b == 0);
            assert!(
                page == old || page == new || hole,
                "page {i} is old, new or a hole"
            );
        }
        assert!(mixed.len == durable.len || mixed.len == data.len);
    }

    #[test]
    fn pages_read_back_sparse_and_truncated() {
        let mut f = FileData::default();
        f.set_len(3 * PAGE_BYTES);
        f.write(PAGE_BYTES + 10, b"hello");
        assert_eq!(f.read(PAGE_BYTES + 8, 9), b"\0\0hello\0\0");
        assert_eq!(f.seek(0, true), Some(PAGE_BYTES));
        assert_eq!(f.seek(PAGE_BYTES + 1, false), Some(2 * PAGE_BYTES));
        assert_eq!(f.seek(2 * PAGE_BYTES, true), None);
        f.set_len(PAGE_BYTES + 12);
        f.set_len(3 * PAGE_BYTES);
        assert_eq!(f.read(PAGE_BYTES + 10, 5), b"he\0\0\0");
    }
}
