import OkraOperations
import Testing

@Suite("query strings as browsers write them")
struct QueryStringTests {
    @Test("+ is a space, %XX a byte, %2B a plus; a value without = is empty; the last of a name wins")
    func parse() {
        let values = QueryString.parse("record=console-%3Cimg+src%3Dx%3E&customer=a%2Bb&flag&type=okra.payment.*&record2=caf%C3%A9&type=okra.auth.*")
        #expect(values["record"] == "console-<img src=x>")
        #expect(values["customer"] == "a+b")
        #expect(values["flag"] == "")
        #expect(values["type"] == "okra.auth.*")
        #expect(values["record2"] == "café")
    }

    @Test("a broken escape keeps the text as sent")
    func broken() {
        #expect(QueryString.parse("record=50%zz")["record"] == "50%zz")
        #expect(QueryString.parse("record=%FF")["record"] == "%FF")
    }

    @Test("encode then parse is the value, whatever it holds", arguments: ["a b+c", "x&y=z", "<script>", "café 100%", "okra.payment.*", ""])
    func roundTrip(value: String) {
        #expect(QueryString.parse("v=" + QueryString.encode(value))["v"] == value)
    }
}
