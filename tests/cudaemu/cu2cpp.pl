#!/usr/bin/perl
# cu2cpp.pl FILE.cu: the C++ that cudaemu compiles in place of a CUDA file
# (tests/cudaemu/include/cudaemu.h says what it emulates). Five rewrites,
# each keeping the file's line count so that errors and backtraces point at
# the .cu file's own lines:
#   k<T><<<grid, block, smem, stream>>>(args)
#       -> emu::launch(emu::launch_cfg(grid, block, smem, stream), "k<T>",
#                      [=](auto... a) { k<T>(a...); }, args)
#   launch_pdl(k<T>, grid, block, smem, stream, args)
#       -> emu::launch_pdl("k<T>", k<T>, grid, block, smem, stream, args)
#   extern __shared__ __align__(16) T name[];
#       -> T *name = (T *)emu::dynamic_smem();
#   template <typename T> __global__ void __launch_bounds__(N) k(params) {
#       -> template <typename T> __global__ void k(params) {
#              emu::kernel_entry((const void *)&k<T>); emu::launch_bounds("k", N);
#   __host__ __device__ inline (any mix of the qualifiers)
#       -> inline (static kept), so that a header's functions are inline once
use strict;
use warnings;

my $path = shift @ARGV or die "usage: cu2cpp.pl FILE.cu\n";
open my $in, '<', $path or die "cu2cpp.pl: $path: $!\n";
my $src = do { local $/; <$in> };
close $in;

my $parens = qr/(\((?:[^()]++|(?-1))*+\))/;
my $targs = qr/<(?:[^<>;()]|<(?:[^<>;()]|<[^<>;()]*>)*>)*>/;

sub keep_lines {
    my ($old, $new) = @_;
    my $lost = ($old =~ tr/\n//) - ($new =~ tr/\n//);
    return $new . ("\n" x ($lost > 0 ? $lost : 0));
}

sub launch {
    my ($all, $name, $cfg, $call) = @_;
    my $args = substr($call, 1, -1);
    $args =~ s/\bNULL\b/nullptr/g; # a NULL through the generic lambda would be a long
    (my $label = $name) =~ s/\s+/ /g;
    $label =~ s/"/\\"/g;
    my $rest = $args =~ /\S/ ? ", $args" : '';
    return keep_lines($all,
        "emu::launch(emu::launch_cfg($cfg), \"$label\", [=](auto... emu_a) { $name(emu_a...); }$rest)");
}

$src =~ s{(([A-Za-z_][\w:]*(?:\s*$targs)?)\s*<<<(.*?)>>>\s*$parens)}{launch($1, $2, $3, $4)}gse;

# launch_pdl(k<T>, grid, block, smem, stream, args) (common.cuh) names its
# kernel to the emulator as a launch does:
#   -> emu::launch_pdl("k<T>", k<T>, grid, block, smem, stream, args)
sub launch_pdl {
    my ($name) = @_;
    (my $label = $name) =~ s/\s+/ /g;
    return "emu::launch_pdl(\"$label\", $name,";
}
$src =~ s{\b(?:pic_cuda::)?launch_pdl\(\s*([A-Za-z_][\w:]*(?:\s*$targs)?)\s*,}{launch_pdl($1)}ge;

$src =~ s{extern\s+__shared__\s+(?:__align__\(\s*\d+\s*\)\s+)?([A-Za-z_][\w:\s]*?)\s+(\w+)\s*\[\s*\]\s*;}
         {$1 *$2 = ($1 *)emu::dynamic_smem();}g;

# Each kernel's first statement names the kernel to the emulator by its
# address, the one cudaFuncSetAttribute is given: its dynamic shared memory
# past 48 KB wants that opt-in, or the GPU refuses the launch. A template
# kernel names its own instance (k<T, N>, from its template's parameters).
# Its __launch_bounds__(N) becomes a check there too: a launch of more
# threads a block than its bounds fails on the GPU.
sub template_args {
    my ($params) = @_;
    return '' unless defined $params;
    my @names;
    for my $p (split /,/, $params) {
        $p =~ s/=.*//s;
        my ($dots, $name) = $p =~ /(\.\.\.)?\s*(\w+)\s*$/ or die "cu2cpp.pl: $path: template parameter '$p'\n";
        push @names, $name . ($dots ? '...' : '');
    }
    return '<' . join(', ', @names) . '>';
}
sub kernel {
    my ($all, $params, $bounds, $name) = @_;
    (my $head = $all) =~ s/\{\z//;
    my $bounds_args = defined $bounds ? ($bounds =~ /$parens/ and substr($1, 1, -1)) : undef;
    $head =~ s/__launch_bounds__\s*$parens//;
    my $entry = "emu::kernel_entry((const void *)&$name" . template_args($params) . ");";
    $entry .= " emu::launch_bounds(\"$name\", $bounds_args);" if defined $bounds_args;
    return keep_lines($all, "$head { $entry");
}
$src =~ s!((?:template\s*<([^;{}]*?)>\s*)?__global__\s+void\s+(__launch_bounds__\s*\((?:[^()]++|\((?:[^()]++|\([^()]*\))*\))*\)\s*)?(\w+)\s*$parens\s*\{)!kernel($1, $2, $3, $4)!gse;

sub qualifiers {
    my ($q) = @_;
    return $q unless $q =~ /\b__(?:host|device)__\b/;
    my $static = $q =~ /\bstatic\b/ ? 'static ' : '';
    my $constexpr = $q =~ /\bconstexpr\b/ ? 'constexpr ' : '';
    return "${static}${constexpr}inline ";
}
$src =~ s{\b((?:(?:__host__|__device__|__forceinline__|__noinline__|inline|static|constexpr)\s+)+)}{qualifiers($1)}ge;

print "#line 1 \"$path\"\n", $src;
