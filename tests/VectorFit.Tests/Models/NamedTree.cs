using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Tests.Models;

/// <summary>
/// A module tree built from dotted Linear names (e.g. the module names of a Hugging Face checkpoint), for
/// selection tests: <c>NamedTree.Build(("encoder.layer.0.attention.self.query", 4, 4), …)</c>. Children live
/// in an array field and are registered by name, so surgery can replace them; forward is not used.
/// </summary>
internal sealed class NamedTree : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module[] parts;

    private NamedTree(IReadOnlyList<(string Name, nn.Module Module)> parts) : base(nameof(NamedTree))
    {
        this.parts = parts.Select(p => p.Module).ToArray();
        foreach (var (name, module) in parts)
        {
            register_module(name, module);
        }
    }

    /// <summary>Builds the tree; every named leaf is a float64 Linear of the given shape.</summary>
    public static NamedTree Build(bool hasBias, params (string Path, long In, long Out)[] leaves)
    {
        torch.manual_seed(21);
        return Build(leaves.Select(l => (l.Path.Split('.'), (nn.Module)nn.Linear(l.In, l.Out, hasBias, dtype: ScalarType.Float64))).ToList());
    }

    /// <summary>Builds the tree from square 4×4 Linear leaves with biases.</summary>
    public static NamedTree Build(params string[] paths) => Build(true, paths.Select(p => (p, 4L, 4L)).ToArray());

    public override Tensor forward(Tensor input) => throw new NotSupportedException("NamedTree is for selection tests only.");

    private static NamedTree Build(List<(string[] Segments, nn.Module Leaf)> leaves)
    {
        var parts = new List<(string, nn.Module)>();
        foreach (var group in leaves.GroupBy(l => l.Segments[0]))
        {
            var items = group.ToList();
            parts.Add(items.Count == 1 && items[0].Segments.Length == 1
                ? (group.Key, items[0].Leaf)
                : (group.Key, Build(items.Select(i => (i.Segments[1..], i.Leaf)).ToList())));
        }

        return new NamedTree(parts);
    }

    /// <summary>The 12 Linear names of one BART encoder layer and decoder layer (self- and cross-attention, fc1, fc2) plus the head.</summary>
    public static readonly string[] BartNames =
    {
        "model.encoder.layers.0.self_attn.q_proj", "model.encoder.layers.0.self_attn.k_proj", "model.encoder.layers.0.self_attn.v_proj",
        "model.encoder.layers.0.self_attn.out_proj", "model.encoder.layers.0.fc1", "model.encoder.layers.0.fc2",
        "model.decoder.layers.0.self_attn.q_proj", "model.decoder.layers.0.self_attn.k_proj", "model.decoder.layers.0.self_attn.v_proj",
        "model.decoder.layers.0.self_attn.out_proj", "model.decoder.layers.0.encoder_attn.q_proj", "model.decoder.layers.0.encoder_attn.k_proj",
        "model.decoder.layers.0.encoder_attn.v_proj", "model.decoder.layers.0.encoder_attn.out_proj", "model.decoder.layers.0.fc1",
        "model.decoder.layers.0.fc2", "classification_head.dense", "classification_head.out_proj",
    };
}
