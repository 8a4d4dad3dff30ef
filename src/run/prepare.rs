//! Everything that can be checked before the first job: the template, the `--tagstring`
//! template, the input sources and the joblog (locked, read for `--resume` and checked against
//! this run's jobs, then started). Every problem here is a [`SetupError`] (exit 255).

use crate::cluster::Skip;
use crate::config::{Config, ResumeMode, Tag};
use crate::error::SetupError;
use crate::exec::{Marker, claim_joblog};
use crate::input::{ArgStream, InputError, Measure, SourceKind, system_limit};
use crate::pipe::PipeSource;
use crate::results::joblog::{Done, JoblogFile, JoblogWriter};
use crate::template::{FileTemplates, ShellMode, Template, TemplateOptions, name_columns};

/// The checked parts of a run: nothing here has started a job yet.
pub(crate) struct Parts {
    pub template: Template,
    pub tag: Option<Template>,
    /// `--transferfile`, `--return`, `--workdir` (with ssh hosts).
    pub files: Option<FileTemplates>,
    pub input: ArgStream,
    /// Jobs that do not run here: other shards' (`--shard`), and those an earlier joblog has
    /// (`--resume`).
    pub skip: Skip,
    pub joblog: Option<JoblogWriter>,
    /// The claim on `<joblog>.live` for jobs run on this machine (see `check`).
    pub marker: Option<Marker>,
    /// `--pipe`: the input opened for cutting into blocks (`input` is then empty).
    pub pipe: Option<crate::pipe::PipeSource>,
    /// The `--header` names of the values by position (empty: none), for `--results`.
    pub names: Vec<Vec<u8>>,
}

/// `claim_local`: jobs run on this machine (the default executor), so processes of an earlier
/// run on this joblog that are still alive are waited for or refused before the joblog is
/// truncated or cut (a resumed run would start them again).
pub(crate) fn check(config: &Config, claim_local: bool) -> Result<Parts, SetupError> {
    if config.resume != ResumeMode::Off && config.joblog.is_none() {
        return Err(SetupError::ResumeWithoutJoblog);
    }
    for s in &config.sources {
        if let SourceKind::File(p) = &s.kind
            && config.joblog.as_deref() == Some(p.as_path())
        {
            return Err(SetupError::JoblogIsInput(p.clone()));
        }
    }
    let resume = config.resume != ResumeMode::Off;
    // `--joblog +FILE` keeps the lines there as resuming does, but skips none.
    let keep = resume || config.joblog_append;
    // The joblog is locked before it is read or truncated, so a second run on it stops here,
    // before it touches it.
    let mut marker = None;
    let (done, file) = match &config.joblog {
        Some(path) if config.dry_run => (
            if resume {
                Done::read(path)?
            } else {
                Done::default()
            },
            None,
        ),
        // `--joblog -`: on stdout, nothing to lock, claim or read.
        Some(path) if path.as_os_str() == "-" => (Done::default(), Some(JoblogFile::stdout()?)),
        Some(path) => {
            let file = JoblogFile::open(path)?;
            // Claimed under the joblog's lock, before the joblog is read or touched.
            if claim_local {
                marker = claim_joblog(path)?;
            }
            let done = if keep {
                file.read_done()?
            } else {
                Done::default()
            };
            (done, Some(file))
        }
        None => (Done::default(), None),
    };
    let skip = match config.resume {
        ResumeMode::Off => Default::default(),
        mode => done.skip(mode),
    };
    let g = &config.grouping;
    let (mut input, names, pipe) = match &config.pipe {
        // Blocks are counted as jobs are, so `--resume` skips the blocks the joblog has; the
        // command is the same for every block, so there is nothing to check it against.
        Some(p) => (
            ArgStream::from_vec(Vec::new()),
            Vec::new(),
            Some(
                PipeSource::open(p, config.tmpdir.as_deref(), config.keep_order)
                    .map_err(InputError::from)?,
            ),
        ),
        // `--retry-failed`: the joblog's commands, each its own command line, by seq (a seq the
        // joblog lacks runs `true`), so its succeeded jobs are skipped as on --resume-failed.
        // A command is taken as the joblog writes it (a tab or newline in it as `\t`, `\n`).
        None if config.retry_failed => {
            let commands = (1..=done.max_seq().unwrap_or(0))
                .map(|seq| vec![done.command(seq).unwrap_or(b"true").to_vec()])
                .collect();
            (ArgStream::from_vec(commands), Vec::new(), None)
        }
        // `--nonall`: one job with no arguments (the runner gives it to every place).
        None if config.onall.as_ref().is_some_and(|o| o.no_input) => {
            (ArgStream::from_vec(vec![Vec::new()]), Vec::new(), None)
        }
        None => {
            let (input, names) = ArgStream::open_columns(
                &config.sources,
                config.separator,
                g,
                &config.input_filter,
            )?;
            (input, names, None)
        }
    };
    // The most values a job has, for `{N}` checks: a group of records, each a value per source.
    let sources = config.sources.len().max(1);
    let groups = match (g.is_grouping(), g.max_args.or(g.max_lines)) {
        // Columns: how many is known only from the input.
        _ if g.has_columns() => usize::MAX,
        (false, _) => sources,
        (true, Some(n)) => sources.saturating_mul(n.max(1)),
        (true, None) => usize::MAX,
    };
    let options = TemplateOptions {
        replacements: config.replacements.clone(),
        context_replace: g.context_replace(),
        slots: config.slots,
    };
    let command = name_columns(&config.command, &names);
    let template = Template::parse_with(&command, config.shell_mode, groups, &options)?;
    let tag = match &config.tag {
        Some(Tag::Template(t)) => Some(
            Template::parse_with(
                &name_columns(std::slice::from_ref(t), &names),
                ShellMode::Auto,
                groups,
                &options,
            )
            .map_err(SetupError::TagTemplate)?,
        ),
        _ => None,
    };
    let files = match &config.ssh {
        Some(ssh) => FileTemplates::parse(
            &ssh.files.transfer,
            &ssh.files.returns,
            ssh.files.workdir_template(),
            groups,
            &options,
        )
        .map_err(SetupError::FileTemplate)?,
        None => None,
    };
    if g.is_grouping() {
        let measure: Option<Box<dyn Measure>> = (g.max_args.is_none() && g.max_lines.is_none())
            .then(|| Box::new(template.measure(g.max_chars, system_limit())) as Box<dyn Measure>);
        input = input.grouped(g, measure, config.slots);
    }
    if config.shuffle {
        let mut all = input.collect::<Result<Vec<_>, _>>()?;
        shuffle(&mut all);
        input = ArgStream::from_vec(all);
    }
    if template.needs_total()
        || tag.as_ref().is_some_and(Template::needs_total)
        || files.as_ref().is_some_and(FileTemplates::needs_total)
    {
        // `total_jobs()` needs the count before the first job: the input is read in full, as
        // GNU parallel does.
        let total = match input.known_len() {
            Some(n) => n,
            None => {
                let all = input.collect::<Result<Vec<_>, _>>()?;
                let n = all.len() as u64;
                input = ArgStream::from_vec(all);
                n
            }
        };
        template.set_total(total);
        if let Some(t) = &tag {
            t.set_total(total);
        }
        if let Some(f) = &files {
            f.set_total(total);
        }
    }
    if resume && !config.resume_force && pipe.is_none() {
        input = match config.onall {
            Some(_) => super::resume::check_onall(&template, input, &done)?,
            None => super::resume::check(&template, input, &done, &skip)?,
        };
    }
    let skip = Skip::new(skip, config.cluster.shard);
    // Truncated or cut only now that everything else is known to be right.
    let joblog = match file {
        Some(f) => Some(f.start(keep.then_some(done.valid))?),
        None => None,
    };
    Ok(Parts {
        template,
        tag,
        files,
        input,
        skip,
        joblog,
        marker,
        pipe,
        names,
    })
}

/// `--shuf`: a Fisher-Yates shuffle seeded from std's per-process random hasher keys (no
/// random-number crate for one shuffle; the order need not be cryptographic).
fn shuffle<T>(items: &mut [T]) {
    use std::hash::{BuildHasher, Hasher};
    let mut state = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        | 1;
    for i in (1..items.len()).rev() {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}
