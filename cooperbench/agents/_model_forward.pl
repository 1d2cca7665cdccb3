#!/usr/bin/perl
# Runs INSIDE a sandbox without python3 (copied there by cooperbench.agents.model_relay.ModelRelay;
# core Perl only). Listens on 127.0.0.1 (an ephemeral port, written to the file named by the first
# argument) and pipes every TCP connection to the relay's unix socket (the second argument).
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::UNIX;
use IO::Select;

my ($port_file, $socket_path) = @ARGV;
my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 64, ReuseAddr => 1)
  or die "cannot listen: $!";
open(my $out, '>', "$port_file.tmp") or die "cannot write $port_file: $!";
print $out $listener->sockport;
close $out;
rename("$port_file.tmp", $port_file) or die "cannot write $port_file: $!";
$SIG{CHLD} = 'IGNORE';
my $parent = getppid();
while (1) {
    exit 0 if getppid() != $parent;
    my $client = $listener->accept or next;
    my $pid = fork();
    next unless defined $pid;
    if ($pid == 0) {
        my $upstream = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $socket_path) or exit 0;
        my $select = IO::Select->new($client, $upstream);
        while (my @ready = $select->can_read) {
            for my $from (@ready) {
                my $to = $from == $client ? $upstream : $client;
                my $n = sysread($from, my $buffer, 65536);
                if (!$n) {
                    exit 0 if $from == $upstream;  # the answer is complete
                    shutdown($upstream, 1);        # the request is complete
                    $select->remove($client);
                    next;
                }
                my $offset = 0;
                while ($offset < $n) {
                    my $written = syswrite($to, $buffer, $n - $offset, $offset);
                    exit 0 unless defined $written;
                    $offset += $written;
                }
            }
        }
        exit 0;
    }
    close $client;
}
