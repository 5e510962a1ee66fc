using VectorFit.Transformers.Models;

namespace VectorFit.Transformers.Tests.Models;

public sealed class TransformerConfigTests
{
    // The fields of microsoft/deberta-v3-base's config.json that the model reads.
    private const string DebertaV3Base = """
        {
          "model_type": "deberta-v2", "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
          "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
          "max_position_embeddings": 512, "relative_attention": true, "position_buckets": 256,
          "norm_rel_ebd": "layer_norm", "share_att_key": true, "pos_att_type": "p2c|c2p", "layer_norm_eps": 1e-7,
          "max_relative_positions": -1, "position_biased_input": false, "num_attention_heads": 12,
          "num_hidden_layers": 12, "type_vocab_size": 0, "vocab_size": 128100
        }
        """;

    [Fact]
    public void ParsesDebertaV3BaseLayout()
    {
        var config = TransformerConfig.Parse(DebertaV3Base);

        config.IsDeberta.Should().BeTrue();
        config.PosAttType.Should().Equal("p2c", "c2p");
        config.AttentionScaleFactor.Should().Be(3, "scores are divided by sqrt(3d) with both relative terms");
        config.EffectiveMaxRelativePositions.Should().Be(512);
        config.PositionEmbeddingSpan.Should().Be(256);
        config.PositionBiasedInput.Should().BeFalse();
        config.NormRelativeEmbeddings.Should().BeTrue();
        config.ShareAttKey.Should().BeTrue();
        config.LayerNormEps.Should().Be(1e-7);
        config.HeadSize.Should().Be(64);
    }

    [Fact]
    public void AcceptsPositionAttentionTypesAsArray()
    {
        var config = TransformerConfig.Parse(DebertaV3Base.Replace("\"p2c|c2p\"", "[\"c2p\", \"p2c\"]", StringComparison.Ordinal));

        config.PosAttType.Should().Equal("c2p", "p2c");
    }

    [Fact]
    public void BertDefaultsFollowBertConfig()
    {
        var config = TransformerConfig.Parse("""{"model_type": "bert", "vocab_size": 30522}""");

        config.HiddenSize.Should().Be(768);
        config.TypeVocabSize.Should().Be(2);
        config.LayerNormEps.Should().Be(1e-12);
        config.PositionBiasedInput.Should().BeTrue();
        config.RelativeAttention.Should().BeFalse();
    }

    [Theory]
    [InlineData("""{"model_type": "gpt2", "vocab_size": 10}""", "model_type \"gpt2\"")]
    [InlineData("""{"model_type": "bert", "vocab_size": 10, "hidden_size": 10, "num_attention_heads": 3}""", "hidden_size 10 is not a multiple of num_attention_heads 3")]
    [InlineData("""{"model_type": "bert", "vocab_size": 10, "hidden_act": "swish"}""", "hidden_act \"swish\"")]
    [InlineData("""{"model_type": "bert"}""", "vocab_size is missing")]
    [InlineData("""{"model_type": "deberta-v2", "vocab_size": 10, "conv_kernel_size": 3}""", "conv_kernel_size 3")]
    public void RejectsUnsupportedConfigurationsNamingTheField(string json, string expected)
    {
        var act = () => TransformerConfig.Parse(json);

        act.Should().Throw<Exception>().Which.Message.Should().Contain(expected);
    }

    [Fact]
    public void RoundTripsThroughJson()
    {
        var config = TransformerConfig.Parse(DebertaV3Base);

        TransformerConfig.Parse(config.ToJson()).Should().BeEquivalentTo(config);
    }
}
