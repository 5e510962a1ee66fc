using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>The activation functions a Hugging Face config may name (<c>hidden_act</c>, <c>pooler_hidden_act</c>).</summary>
internal static class Activations
{
    /// <summary>The names implemented.</summary>
    public static IReadOnlyList<string> Supported { get; } = ["gelu", "relu", "tanh"];

    /// <summary>Throws when <paramref name="name"/> is not an implemented activation.</summary>
    /// <param name="name">The activation's name.</param>
    /// <param name="key">The config key it came from (for the message).</param>
    public static void Check(string name, string key)
    {
        if (!Supported.Contains(name))
        {
            throw new ArgumentException($"{key} \"{name}\" is not supported; use one of {string.Join(", ", Supported)} (BERT and DeBERTa use \"gelu\", the exact erf form).");
        }
    }

    /// <summary>Applies the activation <paramref name="name"/> to <paramref name="x"/>.</summary>
    /// <param name="name">One of <see cref="Supported"/>.</param>
    /// <param name="x">Any tensor.</param>
    /// <returns>A new tensor of the same shape.</returns>
    public static Tensor Apply(string name, Tensor x) => name switch
    {
        "gelu" => nn.functional.gelu(x),
        "relu" => nn.functional.relu(x),
        "tanh" => x.tanh(),
        _ => throw new ArgumentException($"activation \"{name}\" is not supported; use one of {string.Join(", ", Supported)}.", nameof(name)),
    };
}
