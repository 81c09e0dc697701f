//! Reopening after clean and unclean stops; torn, corrupt, garbage and zero tails; lost
//! or damaged indexes.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::log_tests::{append_one, check_every_offset, Model};
use super::*;
use crate::storage::segment::SegmentPaths;
use crate::storage::{PartitionLog, StorageError};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn config() -> LogConfig {
    small_config(1024)
}

/// A log of several segments whose batches are the model.
fn build(dir: &Path, batches: i64) -> Result<(PartitionLog, Model), Box<dyn std::error::Error>> {
    let log = PartitionLog::open(dir, config())?;
    let mut model = Model::new();
    for i in 0..batches {
        append_one(
            &log,
            &mut model,
            1 + (i % 3) as i32,
            100 + i,
            90 + (i as usize * 13) % 120,
        )?;
    }
    Ok((log, model))
}

/// Reopens, checks the log equals `model` exactly, and that appends continue after it.
fn reopen_and_check(dir: &Path, model: &Model) -> TestResult {
    let log = PartitionLog::open(dir, config())?;
    let end = model.last().map_or(0, |m| m.1 + 1);
    assert_eq!(log.high_watermark(), end);
    check_every_offset(&log, model)?;
    assert_eq!(log.append(&mut batch(2, 7, 10, 1))?.base_offset, end);
    assert_eq!(log.read(end, 1)?.records.len(), 71);
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> TestResult {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

/// Byte range of the last batch of the segment holding `model[index]`.
fn file_range(model: &Model, index: usize, segment_base: i64) -> (u64, u64) {
    let start: usize = model
        .iter()
        .filter(|m| m.0 >= segment_base && m.0 < model[index].0)
        .map(|m| m.2.len())
        .sum();
    (start as u64, (start + model[index].2.len()) as u64)
}

#[test]
fn clean_reopen_trusts_the_checkpoint_without_scanning() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (log, model) = build(dir.path(), 40)?;
    log.close()?;
    drop(log);
    // A payload byte of the first segment changes behind our back: the fast path does not
    // read it (no scan), so nothing is cut. After a crash the same change would truncate.
    let first = SegmentPaths::new(dir.path(), 0);
    let mut bytes = fs::read(&first.log)?;
    bytes[100] ^= 0xff;
    fs::write(&first.log, &bytes)?;
    let log = PartitionLog::open(dir.path(), config())?;
    assert_eq!(log.high_watermark(), model.last().map_or(0, |m| m.1 + 1));
    assert!(log.segment_count() > 3);
    Ok(())
}

#[test]
fn reopen_after_clean_close_and_after_crash() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (log, mut model) = build(dir.path(), 40)?;
    log.close()?;
    drop(log);
    reopen_and_check(dir.path(), &model)?;
    let log = PartitionLog::open(dir.path(), config())?;
    model.clear();
    let leo = log.high_watermark();
    for offset in 0..leo {
        let records = log.read(offset, 1)?.records;
        if let Some((base, last, bytes)) = batches_in(&records).pop() {
            if model.last().is_none_or(|m| m.0 != base) {
                model.push((base, last, bytes));
            }
        }
    }
    append_one(&log, &mut model, 3, 9, 500)?;
    drop(log); // crash: no checkpoint, pre-sized zero tail
    reopen_and_check(dir.path(), &model)
}

/// For the last batch of a segment, truncation at every byte inside it and a flip of every
/// byte of it both recover exactly the batches before it.
fn damage_last_batch_of_segment(pick: fn(usize) -> usize) -> TestResult {
    let root = tempfile::tempdir()?;
    let template = root.path().join("template");
    let (log, model) = build(&template, 30)?;
    let bases = log.segment_base_offsets();
    drop(log);
    let segment_index = pick(bases.len());
    let segment_base = bases[segment_index];
    let last = model
        .iter()
        .rposition(|m| bases.get(segment_index + 1).is_none_or(|&next| m.0 < next))
        .ok_or("empty")?;
    let (start, end) = file_range(&model, last, segment_base);
    let path = SegmentPaths::new(&template, segment_base).log;
    let earlier = &model[..last];
    for cut in start..end {
        let dir = root.path().join(format!("cut-{cut}"));
        copy_dir(&template, &dir)?;
        OpenOptions::new()
            .write(true)
            .open(dir.join(path.file_name().ok_or("name")?))?
            .set_len(cut)?;
        reopen_and_check(&dir, &earlier.to_vec())?;
        fs::remove_dir_all(&dir)?;
    }
    for at in start..end {
        let in_leader_epoch = (12..16).contains(&(at - start));
        if in_leader_epoch {
            continue; // outside the CRC by the format's design; see the module doc
        }
        let dir = root.path().join(format!("flip-{at}"));
        copy_dir(&template, &dir)?;
        let file = dir.join(path.file_name().ok_or("name")?);
        let mut bytes = fs::read(&file)?;
        bytes[at as usize] ^= 0x5a;
        fs::write(&file, &bytes)?;
        reopen_and_check(&dir, &earlier.to_vec())?;
        fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

#[test]
fn torn_or_flipped_last_batch_of_active_segment() -> TestResult {
    damage_last_batch_of_segment(|count| count - 1)
}

#[test]
fn torn_or_flipped_last_batch_of_first_segment_drops_later_segments() -> TestResult {
    damage_last_batch_of_segment(|_| 0)
}

#[test]
fn garbage_and_zero_tails_are_cut() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (log, model) = build(dir.path(), 25)?;
    let active = SegmentPaths::new(
        dir.path(),
        *log.segment_base_offsets().last().ok_or("none")?,
    )
    .log;
    log.close()?;
    drop(log);
    OpenOptions::new()
        .append(true)
        .open(&active)?
        .write_all(&[0u8; 3000])?;
    let reopened = PartitionLog::open(dir.path(), config())?;
    assert_eq!(
        reopened.recovery_truncated_bytes(),
        0,
        "a zero tail is not damage"
    );
    drop(reopened);
    reopen_and_check(dir.path(), &model)?;
    let dir = tempfile::tempdir()?;
    let (log, model) = build(dir.path(), 25)?;
    let active = SegmentPaths::new(
        dir.path(),
        *log.segment_base_offsets().last().ok_or("none")?,
    )
    .log;
    let committed = log.size_bytes()
        - model
            .iter()
            .filter(|m| m.0 < log.segment_base_offsets()[log.segment_count() - 1])
            .map(|m| m.2.len() as u64)
            .sum::<u64>();
    drop(log);
    let mut bytes = fs::read(&active)?;
    bytes.truncate(committed as usize);
    bytes.extend((0..500u32).map(|i| (i * 7 + 3) as u8));
    fs::write(&active, &bytes)?;
    let reopened = PartitionLog::open(dir.path(), config())?;
    assert_eq!(reopened.recovery_truncated_bytes(), 500);
    drop(reopened);
    reopen_and_check(dir.path(), &model)
}

#[test]
fn missing_or_corrupt_indexes_are_rebuilt() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (log, model) = build(dir.path(), 40)?;
    let bases = log.segment_base_offsets();
    log.close()?;
    drop(log);
    let first = SegmentPaths::new(dir.path(), bases[0]);
    let second = SegmentPaths::new(dir.path(), bases[1]);
    let third = SegmentPaths::new(dir.path(), bases[2]);
    fs::remove_file(&first.index)?;
    fs::remove_file(&first.time_index)?;
    OpenOptions::new()
        .append(true)
        .open(&second.index)?
        .write_all(&[1, 2, 3])?;
    let mut entries = fs::read(&third.index)?;
    entries[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    fs::write(&third.index, &entries)?;
    reopen_and_check(dir.path(), &model)?;
    assert!(fs::metadata(&first.index)?.len() > 0 && fs::metadata(&first.index)?.len() % 8 == 0);
    assert_eq!(fs::metadata(&second.index)?.len() % 8, 0);
    Ok(())
}

#[test]
fn corrupt_checkpoint_falls_back_to_a_full_scan() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (log, model) = build(dir.path(), 20)?;
    log.close()?;
    drop(log);
    let path = dir.path().join(crate::storage::checkpoint::CHECKPOINT_FILE);
    let mut bytes = fs::read(&path)?;
    bytes[7] ^= 1;
    fs::write(&path, &bytes)?;
    reopen_and_check(dir.path(), &model)
}

/// A roll whose new segment file was created but never written (the creation failed
/// half-way: ENOSPC, EMFILE) leaves an empty `<B>.log` while the old segment goes on past
/// offset B. Recovery removes that leftover and keeps every later segment.
#[test]
fn empty_leftover_of_a_failed_roll_is_removed_not_taken_for_a_gap() -> TestResult {
    for leftover_len in [0u64, 8192] {
        let dir = tempfile::tempdir()?;
        let log = PartitionLog::open(dir.path(), small_config(1024))?;
        let mut model = Model::new();
        append_one(&log, &mut model, 2, 1000, 100)?;
        let stray_base = log.log_end_offset();
        let stray = dir.path().join(format!("{stray_base:020}.log"));
        std::fs::File::create(&stray)?.set_len(leftover_len)?;
        for i in 0..40 {
            append_one(&log, &mut model, 2, 1001 + i, 100)?;
        }
        assert!(log.segment_count() >= 3, "rolled past the leftover");
        log.close()?;
        drop(log);
        let log = PartitionLog::open(dir.path(), small_config(1024))?;
        check_every_offset(&log, &model)?;
        assert_eq!(log.log_end_offset(), model.last().map_or(0, |m| m.1 + 1));
        assert!(!stray.exists(), "the leftover is gone");
        // Even without the checkpoint (a crash), nothing is lost.
        log.close()?;
        drop(log);
        std::fs::File::create(&stray)?.set_len(leftover_len)?;
        std::fs::remove_file(dir.path().join("recovery-checkpoint"))?;
        let log = PartitionLog::open(dir.path(), small_config(1024))?;
        check_every_offset(&log, &model)?;
        assert!(!stray.exists());
    }
    Ok(())
}

/// A segment that cannot be opened for a reason that says nothing about its data (here a
/// symlink loop, ELOOP; in practice EMFILE, ENOMEM, EACCES, EIO) fails the open and
/// touches nothing: no segment is set aside or deleted, and once the cause is gone the
/// whole log is back.
#[test]
fn transient_open_errors_fail_the_open_and_cut_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (log, model) = build(dir.path(), 40)?;
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3);
    log.close()?;
    drop(log);
    let middle = SegmentPaths::new(dir.path(), bases[1]).log;
    let aside = dir.path().join("aside");
    fs::rename(&middle, &aside)?;
    std::os::unix::fs::symlink(&middle, &middle)?;
    let listing = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".log") || n.contains("damaged"))
            .collect();
        names.sort();
        names
    };
    let before = listing(dir.path());
    let err = PartitionLog::open(dir.path(), config()).unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }), "{err:?}");
    assert_eq!(listing(dir.path()), before, "nothing set aside or deleted");
    fs::remove_file(&middle)?;
    fs::rename(&aside, &middle)?;
    reopen_and_check(dir.path(), &model)
}
