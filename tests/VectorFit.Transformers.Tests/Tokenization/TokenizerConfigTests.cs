using VectorFit.Transformers.Tokenization;

namespace VectorFit.Transformers.Tests.Tokenization;

public sealed class TokenizerConfigTests
{
    [Fact]
    public void Reads_options_and_special_tokens_in_string_or_object_form()
    {
        TokenizerConfig config = TokenizerConfig.Parse(
            """
            {
              "do_lower_case": false,
              "strip_accents": null,
              "tokenize_chinese_chars": false,
              "cls_token": "<cls>",
              "sep_token": { "content": "<sep>", "lstrip": false },
              "tokenizer_class": "BertTokenizer"
            }
            """,
            "tokenizer_config.json");

        config.DoLowerCase.Should().BeFalse();
        config.StripAccents.Should().BeNull();
        config.TokenizeChineseChars.Should().BeFalse();
        config.TokenizerClass.Should().Be("BertTokenizer");
        config.SpecialTokens.Should().Be(new SpecialTokenNames(Cls: "<cls>", Sep: "<sep>"));
    }

    [Fact]
    public void Wrong_option_type_names_the_key_and_value()
    {
        var act = () => TokenizerConfig.Parse("""{ "do_lower_case": "yes" }""", "ckpt/tokenizer_config.json");

        act.Should().Throw<InvalidDataException>().WithMessage("*ckpt/tokenizer_config.json*\"do_lower_case\"*\"yes\"*");
    }

    [Fact]
    public void Invalid_json_names_the_file()
    {
        var act = () => TokenizerConfig.Parse("{ nope", "ckpt/tokenizer_config.json");

        act.Should().Throw<InvalidDataException>().WithMessage("*ckpt/tokenizer_config.json*not valid JSON*");
    }
}
