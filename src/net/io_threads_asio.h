// What the listener (net/event_loop.cc) needs of the I/O threads: where to accept the next
// connection, and how to hand it over. Includes Asio: for net/*.cc only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "net/io_threads.h"
#include "net/stream.h"

namespace conclave::net::io_threads_detail {

/// The I/O thread the next accepted connection goes to (round robin); loop thread only.
int pick(IoThreads& pool);
boost::asio::io_context& context(IoThreads& pool, int thread);
/// Offers a connection accepted on context(pool, thread) to `acceptor` (on the loop thread, now)
/// and, when it takes it, starts reading on the I/O thread.
void adopt(IoThreads& pool, int thread, boost::asio::ip::tcp::socket socket, Acceptor& acceptor,
           size_t read_buffer_bytes);

}  // namespace conclave::net::io_threads_detail
