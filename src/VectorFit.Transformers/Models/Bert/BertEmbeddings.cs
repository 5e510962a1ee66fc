using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>
/// BERT's input layer: word + absolute position + token type embeddings, then LayerNorm and dropout.
/// Registered as <c>word_embeddings</c>, <c>position_embeddings</c>, <c>token_type_embeddings</c>, <c>LayerNorm</c>.
/// </summary>
public sealed class BertEmbeddings : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Embedding word_embeddings;
    private readonly Embedding position_embeddings;
    private readonly Embedding? token_type_embeddings;

    [ComponentName(Name = "LayerNorm")]
    private readonly LayerNorm _layerNorm;

    private readonly Dropout dropout;

    /// <summary>Builds the embeddings of <paramref name="config"/> (weights random until a checkpoint is loaded).</summary>
    /// <param name="config">The model configuration.</param>
    public BertEmbeddings(TransformerConfig config)
        : base(nameof(BertEmbeddings))
    {
        word_embeddings = nn.Embedding(config.VocabSize, config.HiddenSize, padding_idx: config.PadTokenId);
        position_embeddings = nn.Embedding(config.MaxPositionEmbeddings, config.HiddenSize);
        token_type_embeddings = config.TypeVocabSize > 0 ? nn.Embedding(config.TypeVocabSize, config.HiddenSize) : null;
        _layerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        MaxPositions = config.MaxPositionEmbeddings;
        RegisterComponents();
    }

    /// <summary>The longest sequence the position table covers.</summary>
    public int MaxPositions { get; }

    /// <summary>Embeds a batch.</summary>
    /// <param name="inputIds">Token ids <c>(batch, length)</c>, int64.</param>
    /// <param name="tokenTypeIds">Segment ids <c>(batch, length)</c>, int64.</param>
    /// <returns>Hidden states <c>(batch, length, hidden)</c>.</returns>
    public override Tensor forward(Tensor inputIds, Tensor tokenTypeIds)
    {
        long length = inputIds.shape[1];
        if (length > MaxPositions)
        {
            throw new ArgumentException($"sequence length {length} exceeds max_position_embeddings {MaxPositions}; truncate the input to at most {MaxPositions} tokens.", nameof(inputIds));
        }

        using var end = length.ToScalar();
        Tensor positions = arange(HeldScalars.Zero, end, HeldScalars.One, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        Tensor sum = word_embeddings.call(inputIds).add(position_embeddings.call(positions), HeldScalars.One);
        if (token_type_embeddings is not null)
        {
            sum = sum.add(token_type_embeddings.call(tokenTypeIds), HeldScalars.One);
        }

        return dropout.call(_layerNorm.call(sum));
    }
}
