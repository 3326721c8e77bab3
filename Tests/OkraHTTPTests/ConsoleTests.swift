import Foundation
import OkraHTTP
import OkraIngest
import OkraOperations
import Testing

/// The console's page and the headers of every admin answer, over real HTTP on loopback. The
/// page's behaviour in a browser is scripts/test-console.sh's (Playwright and chromium).
@Suite("operator console: the page, its headers, /admin/status (loopback)")
struct ConsoleTests {
    typealias HTTP = HTTPAnswerTests
    static let csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    @Test("GET /console, its script and style on the admin listener, even with the operations API off; never on the webhook listener")
    func served() async throws {
        try await HTTP.withServer(operations: .noAdminToken) { ingestPort, adminPort, _ in
            let page = try await HTTP.request(adminPort, "GET", "/console")
            #expect(page.status == 200)
            #expect(page.header("Content-Type") == "text/html; charset=utf-8")
            #expect(page.body.contains(#"<script src="/console/console.js" defer></script>"#))
            let script = try await HTTP.request(adminPort, "GET", "/console/console.js")
            #expect(script.status == 200 && script.header("Content-Type") == "text/javascript; charset=utf-8")
            #expect(script.body.contains("sessionStorage") && !script.body.contains("localStorage.setItem"))
            #expect(try await HTTP.request(adminPort, "GET", "/console/console.css").status == 200)
            #expect(try await HTTP.request(ingestPort, "GET", "/console").status == 404)
            // Off: the page says why once signed in, from the API's own answer.
            let status = try await HTTP.request(adminPort, "GET", "/admin/status", headers: ["Authorization": "Bearer \(HTTP.adminToken)"])
            #expect(status.status == 404 && (status.error?["message"] as? String)?.contains("operations API is off") == true, "\(status.body)")
        }
    }

    @Test("no inline script, style or event handler in the page: the CSP allows only the served files")
    func noInlineCode() async throws {
        try await HTTP.withServer(operations: .noAdminToken) { _, adminPort, _ in
            let html = try await HTTP.request(adminPort, "GET", "/console").body
            let scripts = html.matches(of: /<script[^>]*>/).map { String($0.output) }
            #expect(scripts == [#"<script src="/console/console.js" defer>"#])
            #expect(!html.contains("style=") && !html.contains("<style"))
            #expect(html.firstMatch(of: /\son[a-z]+=/) == nil)
            let script = try await HTTP.request(adminPort, "GET", "/console/console.js").body
            #expect(!script.contains("innerHTML") && !script.contains("outerHTML") && !script.contains("insertAdjacentHTML") && !script.contains("eval("))
        }
    }

    @Test("every admin answer carries the CSP, nosniff and no-referrer: pages, API answers, errors, probes")
    func headers() async throws {
        try await HTTP.withServer(operations: .served(AdminScopeTests.RecordingOperations(), tokens: HTTP.adminTokens)) { _, adminPort, _ in
            let auth = ["Authorization": "Bearer \(HTTP.adminToken)"]
            let answers = [
                try await HTTP.request(adminPort, "GET", "/console"),
                try await HTTP.request(adminPort, "GET", "/admin/events", headers: auth),
                try await HTTP.request(adminPort, "GET", "/admin/events"),
                try await HTTP.request(adminPort, "GET", "/no-such-path"),
                try await HTTP.request(adminPort, "DELETE", "/admin/events", headers: auth),
                try await HTTP.request(adminPort, "GET", "/healthz"),
            ]
            #expect(answers.map(\.status) == [200, 200, 401, 404, 405, 200])
            for answer in answers {
                #expect(answer.header("Content-Security-Policy") == Self.csp, "\(answer.status)")
                #expect(answer.header("X-Content-Type-Options") == "nosniff")
                #expect(answer.header("Referrer-Policy") == "no-referrer")
            }
        }
    }

    @Test("GET /admin/status: readiness, Kafka, the outbox, parked records, the store and the volume, from the store's own snapshot")
    func status() async throws {
        try await HTTP.withServer(operations: .served(AdminScopeTests.RecordingOperations(), tokens: HTTP.adminTokens)) { _, adminPort, _ in
            let answer = try await HTTP.request(adminPort, "GET", "/admin/status", headers: AdminScopeTests.auth(.read))
            #expect(answer.status == 200, "\(answer.body)")
            let json = try #require(answer.json)
            #expect(json["ready"] as? Bool == true)
            #expect((json["outbox"] as? [String: Any])?["depth"] as? Int == 3)
            #expect((json["outbox"] as? [String: Any])?["oldest_age_seconds"] as? Double == 1.5)
            #expect(json["parked"] as? Int == 1)
            #expect((json["store"] as? [String: Any])?["state"] as? String == "accepting")
            #expect((json["store"] as? [String: Any])?["bytes"] as? Int == 4096)
            #expect((json["volume"] as? [String: Any])?["free_bytes"] as? Int == 90 << 20)
            #expect((json["kafka"] as? [String: Any])?["state"] as? String == "unknown")
        }
    }
}
