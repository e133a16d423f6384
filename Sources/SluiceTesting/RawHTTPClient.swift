import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A deliberately plain HTTP/1.1 client over a POSIX socket, for hostile-input tests: it keeps
/// sending a body after the server has answered and closed, the way a real sender might, and
/// reports what the server said.
public enum RawHTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: String
        /// Request body bytes the server accepted before it answered and closed.
        public var bytesSent: Int
    }

    public static func send(port: Int, method: String = "POST", path: String, headers: [String: String] = [:], body: [UInt8], declareLength: Bool = true) throws -> Response {
        let fd = try connectLoopback(port: port, readTimeoutSeconds: 10)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if declareLength { head += "Content-Length: \(body.count)\r\n" } else { head += "Transfer-Encoding: chunked\r\n" }
        head += "\r\n"
        _ = sendAll(fd, Array(head.utf8))
        var sent = 0
        if declareLength {
            sent = sendAll(fd, body)
        } else {
            var offset = 0
            while offset < body.count {
                let end = min(offset + 16_384, body.count)
                let chunk = Array(String(end - offset, radix: 16).utf8) + [13, 10] + Array(body[offset..<end]) + [13, 10]
                if sendAll(fd, chunk) < chunk.count { break }
                sent += end - offset
                offset = end
            }
            if offset >= body.count { _ = sendAll(fd, Array("0\r\n\r\n".utf8)) }
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received.append(contentsOf: buffer[0..<n])
            if let parsed = parse(received), parsed.complete { break }
        }
        guard let parsed = parse(received) else {
            throw POSIXError(.EBADMSG)
        }
        return Response(status: parsed.status, headers: parsed.headers, body: parsed.body, bytesSent: sent)
    }

    /// Opens a connection, sends `prefix` (possibly a partial request), then waits up to `limit`
    /// seconds for the server to close it. Returns true when the server closed it.
    public static func serverCloses(port: Int, sending prefix: [UInt8] = [], within limit: Int) throws -> Bool {
        let fd = try connectLoopback(port: port, readTimeoutSeconds: limit)
        defer { close(fd) }
        _ = sendAll(fd, prefix)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return true }          // orderly close by the server
            if n < 0 { return errno == ECONNRESET }  // timed out (EAGAIN) means still open
        }
    }

    /// A TCP connection to 127.0.0.1:`port` whose reads give up after `readTimeoutSeconds`.
    private static func connectLoopback(port: Int, readTimeoutSeconds: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var timeout = timeval(tv_sec: readTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
        return fd
    }

    private static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Int {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            offset += n
        }
        return offset
    }

    private static func parse(_ bytes: [UInt8]) -> (status: Int, headers: [String: String], body: String, complete: Bool)? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1.1 "), let status = Int(statusLine.dropFirst(9).prefix(3)) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = String(text[split.upperBound...])
        let length = headers["content-length"].flatMap(Int.init) ?? body.utf8.count
        return (status, headers, body, body.utf8.count >= length)
    }
}
