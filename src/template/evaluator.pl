# fanout's evaluator for {= perl expression =}, --rpl and --plus: one process for the whole
# run, so an expression is compiled once and its globals live from job to job, as in GNU
# parallel. It offers GNU parallel's helpers (Q, pQ, uq, skip, seq, slot, total_jobs, hash,
# @arg, $job->seq() ...) in GNU's package Arg. It speaks over stdin/stdout in messages: a
# 32-bit big-endian count of fields, then each field as a 32-bit length and its bytes.
#
# Requests: ("C", slots, expr...) compiles expressions in order (their ids count from 0) and answers
# ("ok") or ("err", message). ("E", seq, slot, total, nargs, arg..., npairs, (id, argidx)...)
# evaluates each pair with $_ set to argument argidx (counted from 0, "" for an empty value)
# and answers (skip, error, (uq, value)...).
use strict;
no warnings;
use POSIX ();
binmode STDIN;
binmode STDOUT;

sub rd {
    my $n = shift;
    my $b = '';
    while (length($b) < $n) {
        my $r = sysread(STDIN, $b, $n - length($b), length($b));
        exit 0 unless $r;
    }
    return $b;
}

sub msg_in {
    my $c = unpack("N", rd(4));
    my @f;
    for (1 .. $c) {
        my $l = unpack("N", rd(4));
        push @f, ($l ? rd($l) : '');
    }
    return @f;
}

sub msg_out {
    my $s = pack("N", scalar @_);
    for my $f (@_) { $s .= pack("N", length $f) . $f; }
    while (length $s) {
        my $w = syswrite(STDOUT, $s);
        exit 0 unless $w;
        substr($s, 0, $w) = '';
    }
}

sub shell_quote_scalar {
    local $_ = $_[0];
    if (/[^-_.+a-z0-9\/]/i) {
        s/'/'"'"'/g;
        $_ = "'$_'";
        s/^''//;
        s/''$//;
        return $_;
    } elsif ($_ eq "") {
        return "''";
    }
    return $_;
}
sub Q { shell_quote_scalar($_[0]) }
sub perl_quote_scalar { my $a = $_[0]; $a =~ s/[\\\"\$\@]/\\$&/go if defined $a; return $a; }
sub pQ { perl_quote_scalar($_[0]) }
sub strftime { POSIX::strftime(@_) }
sub uniq { my %s; return grep { !$s{$_}++ } @_; }

sub make_regexp_ungreedy {
    my $regexp = shift;
    my ($class_state, $escape_state, $found, $ungreedy) = (0, 0, 0, "");
    for my $c (split(//, $regexp)) {
        if ($found) {
            if ($c ne "?") { $ungreedy .= "?"; }
            $found = 0;
        }
        $ungreedy .= $c;
        if ($escape_state) { $escape_state = 0; next; }
        if ($c eq "\\") { $escape_state = 1; next; }
        if ($c eq '[') { $class_state = 1; next; }
        if ($class_state) {
            if ($c eq ']') { $class_state = 0; }
            next;
        }
        if ($c =~ /[*}+]/) { $found = 1; }
    }
    if ($found) { $ungreedy .= '?'; }
    return $ungreedy;
}

package fanout::Job;
sub seq { $_[0]{seq} }
sub slot { $_[0]{slot} }
sub skip { $_[0]{skip} = 1; }

package Arg;
our @arg;
our ($job, $unquote, $total, $max_slots);
sub Q { ::shell_quote_scalar($_[0]) }
sub pQ { ::perl_quote_scalar($_[0]) }
sub uq() { $unquote = 1; }
sub skip() { $job->skip(); }
sub seq() { $job->seq(); }
sub slot() { $job->slot(); }
sub total_jobs() { $total }
sub hash { eval "use B; 1;"; B::hash(@_); }
sub yyyy_mm_dd_hh_mm_ss() { ::strftime("%Y-%m-%dT%H:%M:%S", localtime(time())) }
sub yyyy_mm_dd_hh_mm() { ::strftime("%Y-%m-%dT%H:%M", localtime(time())) }
sub yyyy_mm_dd() { ::strftime("%Y-%m-%d", localtime(time())) }
sub hh_mm_ss() { ::strftime("%H:%M:%S", localtime(time())) }
sub hh_mm() { ::strftime("%H:%M", localtime(time())) }
sub yyyymmddhhmmss() { ::strftime("%Y%m%d%H%M%S", localtime(time())) }
sub yyyymmddhhmm() { ::strftime("%Y%m%d%H%M", localtime(time())) }
sub yyyymmdd() { ::strftime("%Y%m%d", localtime(time())) }
sub hhmmss() { ::strftime("%H%M%S", localtime(time())) }
sub hhmm() { ::strftime("%H%M", localtime(time())) }

my @code;

sub compile {
    my $expr = shift;
    my $sub = eval('sub { no strict; no warnings; my $job = shift; ' . $expr . "\n}");
    return ($sub, $@);
}

sub serve {
    while (1) {
        my @f = ::msg_in();
        my $kind = shift @f;
        if ($kind eq "C") {
            my $err;
            $max_slots = shift @f;
            $Global::max_jobs_running = $max_slots;
            for my $expr (@f) {
                my ($sub, $e) = compile($expr);
                if (!$sub) { $e =~ s/\s+$//; $err = "cannot use `$expr`: $e"; last; }
                push @code, $sub;
            }
            ::msg_out(defined $err ? ("err", $err) : ("ok"));
        } elsif ($kind eq "E") {
            my ($seq, $slot, $tot, $nargs) = splice(@f, 0, 4);
            my @args = splice(@f, 0, $nargs);
            my $npairs = shift @f;
            $total = $tot eq "" ? undef : $tot;
            $job = bless { seq => $seq, slot => $slot, skip => 0 }, 'fanout::Job';
            # GNU parallel's @arg: $arg[1] is the first value.
            @arg = (undef, @args);
            my @out;
            my $err = "";
            for (1 .. $npairs) {
                my ($id, $idx) = splice(@f, 0, 2);
                local $_ = $idx eq "" ? "" : $args[$idx];
                $unquote = 0;
                eval { $code[$id]->($job); 1 } or do { $err = $@; $err =~ s/\s+$//; };
                last if $err ne "";
                push @out, ($unquote ? "1" : "0"), (defined $_ ? "$_" : "");
            }
            ::msg_out($job->{skip} ? "1" : "0", $err, $err eq "" ? @out : ());
        } else {
            exit 2;
        }
    }
}

serve();
