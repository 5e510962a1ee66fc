using VectorFit.Transformers.Tests.TestSupport;
using VectorFit.Transformers.Tokenization;

namespace VectorFit.Transformers.Tests.Tokenization;

public sealed class TokenizerFactoryTests
{
    private const string Vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n";

    [Fact]
    public void Picks_wordpiece_for_a_folder_with_vocab_txt()
    {
        using var dir = new TempDirectory();
        dir.Write("vocab.txt", Vocab);

        TokenizerFactory.FromPretrained(dir.Path).Should().BeOfType<WordPieceTokenizer>()
            .Which.TokenizeToIds("Hello").Should().Equal(4);
    }

    [Fact]
    public void Picks_sentencepiece_for_a_folder_with_spm_model()
    {
        using var dir = new TempDirectory();
        dir.Write("spm.model", SpmModelBuilder.WithDebertaSpecials().Add("\u2581hello", -1f).Build());

        TokenizerFactory.FromPretrained(dir.Path).Should().BeOfType<SentencePieceTokenizer>()
            .Which.TokenizeToIds("hello").Should().Equal(4);
    }

    [Fact]
    public void With_both_files_the_tokenizer_class_decides()
    {
        using var dir = new TempDirectory();
        dir.Write("vocab.txt", Vocab);
        dir.Write("spm.model", SpmModelBuilder.WithDebertaSpecials().Build());
        dir.Write("tokenizer_config.json", """{ "tokenizer_class": "DebertaV2Tokenizer" }""");

        TokenizerFactory.FromPretrained(dir.Path).Should().BeOfType<SentencePieceTokenizer>();
    }

    [Fact]
    public void A_folder_without_tokenizer_files_lists_what_it_holds()
    {
        using var dir = new TempDirectory();
        dir.Write("config.json", "{}");
        dir.Write("tokenizer.json", "{}");

        var act = () => TokenizerFactory.FromPretrained(dir.Path);

        act.Should().Throw<FileNotFoundException>().WithMessage("*vocab.txt*spm.model*config.json, tokenizer.json*");
    }

    [Fact]
    public void A_missing_folder_is_named()
    {
        var act = () => TokenizerFactory.FromPretrained("/no/such/checkpoint");

        act.Should().Throw<DirectoryNotFoundException>().WithMessage("*/no/such/checkpoint*");
    }
}
