"""The labels and messages the playground shows, in English and Simplified Chinese.

One catalogue: every key has both languages (tests/test_i18n.py checks it, and that both sides
of a key take the same ``{placeholders}``). The language is chosen per session from the browser's
language (:func:`language_of`; the Chainlit session's side is playground/ui/language.py). Only
labels are translated: the words the playground stores (votes, statuses, policies) stay those of
playground/core/vocabulary.py. Nothing here needs Chainlit, so it is tested without it.
"""

from __future__ import annotations

from typing import Literal, get_args

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "en"

CATALOGUE: dict[str, dict[Language, str]] = {
    # --- the side-by-side panes (public/elements/SideBySide.jsx) ---
    "pane.label": {"en": "Model {side}", "zh": "模型 {side}"},
    "pane.status.streaming": {"en": "streaming", "zh": "生成中"},
    "pane.status.done": {"en": "done", "zh": "完成"},
    "pane.status.error": {"en": "error", "zh": "出错"},
    "pane.status.stopped": {"en": "stopped", "zh": "已停止"},
    "pane.reasoning": {"en": "Reasoning", "zh": "推理过程"},
    "pane.reading": {"en": "Reading {tokens}… {seconds} s", "zh": "正在读取{tokens}… {seconds} 秒"},
    "pane.reading_tokens": {"en": "{tokens} tokens", "zh": " {tokens} 个词元"},
    "pane.reading_prompt": {"en": "the prompt", "zh": "提示词"},
    "pane.ttft": {"en": "TTFT {seconds} s", "zh": "首词元延迟 {seconds} 秒"},
    "pane.rate": {"en": "{rate} tok/s", "zh": "{rate} 词元/秒"},
    "pane.tokens": {"en": "{tokens} tokens", "zh": "{tokens} 个词元"},
    "pane.cached": {"en": "{tokens} prompt tokens from cache", "zh": "{tokens} 个提示词元来自缓存"},
    "pane.context": {"en": "{tokens} tokens of {window}", "zh": "{tokens} / {window} 个词元"},
    # --- the rating panel (public/elements/RatingPanel.jsx) ---
    "rating.accuracy": {"en": "Accuracy", "zh": "准确性"},
    "rating.fluency": {"en": "Fluency", "zh": "流畅性"},
    "rating.comment": {"en": "Comment (optional)", "zh": "评论（可选）"},
    "rating.submit": {"en": "Submit rating", "zh": "提交评分"},
    "rating.update": {"en": "Update rating", "zh": "更新评分"},
    "rating.not_saved": {"en": "Not saved: {error}", "zh": "未保存：{error}"},
    "rating.saved": {"en": "Saved.", "zh": "已保存。"},
    "rating.updated": {"en": "Updated.", "zh": "已更新。"},
    "rating.hint": {
        "en": "Keys: ↑ ↓ ← → choose a score · 1-5 set it · A / B / T / X vote A better, B better, tie, "
              "both bad · Enter submit",
        "zh": "快捷键：↑ ↓ ← → 选择评分项 · 1-5 打分 · A / B / T / X 投票（A 更好、B 更好、平局、都不好）"
              " · Enter 提交",
    },
    # The vote buttons, one per stored word of vocabulary.WINNERS.
    "vote.model_a": {"en": "A is better", "zh": "A 更好"},
    "vote.model_b": {"en": "B is better", "zh": "B 更好"},
    "vote.tie": {"en": "Tie", "zh": "平局"},
    "vote.tie (bothbad)": {"en": "Both bad", "zh": "都不好"},
    # --- the settings panel, the commands and the starters ---
    "settings.temperature": {"en": "Temperature", "zh": "温度"},
    "settings.max_tokens": {"en": "Max tokens", "zh": "最大词元数"},
    "settings.system_prompt": {"en": "System prompt", "zh": "系统提示词"},
    "settings.truncation": {"en": "Too long for model {side}: truncation",
                            "zh": "超出模型 {side} 的上下文时：截断方式"},
    # One per stored word of vocabulary.TRUNCATION_POLICIES (English shows the word itself).
    "truncation.refuse": {"en": "refuse", "zh": "拒绝发送"},
    "truncation.head": {"en": "head", "zh": "保留开头"},
    "truncation.tail": {"en": "tail", "zh": "保留结尾"},
    "truncation.middle": {"en": "middle", "zh": "去掉中间"},
    "command_name.leaderboard": {"en": "Leaderboard", "zh": "排行榜"},
    "command_name.queue": {"en": "Queue", "zh": "队列"},
    "command_name.prompt_set": {"en": "PromptSet", "zh": "题集"},
    "command_name.needle": {"en": "Needle", "zh": "大海捞针"},
    "command.leaderboard": {"en": "Show the leaderboard of all blind votes", "zh": "显示全部盲评投票的排行榜"},
    "command.queue": {"en": "Rate batch answers, blind (type a set name, or anything for all)",
                      "zh": "盲评批量回答（输入题集名，或任意文字表示全部）"},
    "command.prompt_set": {"en": "Step through a prompt set (type its name)", "zh": "逐项运行题集（输入题集名）"},
    "command.needle": {"en": "Needle in a haystack (type lengths and depths, e.g. 512,1k 0,50,100)",
                       "zh": "大海捞针（输入长度和深度，例如 512,1k 0,50,100）"},
    "starter.queue": {"en": "Rate the queue", "zh": "评分队列"},
    "starter.set": {"en": "Step through {name}", "zh": "逐项运行 {name}"},
    "starter.leaderboard": {"en": "Leaderboard", "zh": "排行榜"},
    # --- chat messages ---
    "chat.empty": {"en": "Type a prompt first: nothing was sent to the models.",
                   "zh": "请先输入提示词：没有发送任何内容给模型。"},
    "chat.too_long": {"en": "This prompt is {chars} characters; the limit is {limit} (arena.max_prompt_chars in "
                            "{source}). Nothing was sent.",
                      "zh": "这条提示词有 {chars} 个字符，上限是 {limit}（{source} 中的 arena.max_prompt_chars）。"
                            "没有发送任何内容。"},
    "chat.cannot_continue": {"en": "This conversation cannot be continued: start a new one.",
                             "zh": "这个对话无法继续：请开始新对话。"},
    "chat.models_gone": {"en": "{models} is no longer in {source}: this conversation can be read and rated but "
                               "not continued.",
                         "zh": "{models} 已不在 {source} 中：这个对话可以查看和评分，但不能继续。"},
    # --- the rating queue ---
    "queue.author": {"en": "Queue", "zh": "队列"},
    "queue.all_sets": {"en": "all sets", "zh": "全部题集"},
    "queue.status": {"en": "You rated {yours} · {fully} of {total} rated by {overlap} {raters} ({scope})",
                     "zh": "你已评 {yours} 条 · {total} 条中 {fully} 条已由 {overlap} 位{raters}评完（{scope}）"},
    "queue.rater": {"en": "rater", "zh": "评分者"},
    "queue.raters": {"en": "raters", "zh": "评分者"},
    "queue.empty": {"en": "Nothing left for you in the queue. {status}.", "zh": "队列中没有留给你的条目了。{status}。"},
    "queue.item": {"en": "**Queue** · {set} · `{item}` · {status}\n\n{question}",
                   "zh": "**队列** · {set} · `{item}` · {status}\n\n{question}"},
    # --- prompt sets ---
    "set.author": {"en": "Prompt set", "zh": "题集"},
    "set.unknown": {"en": "No prompt set {name}. Sets: {sets}. Type e.g. `/set quick-20`.",
                    "zh": "没有题集 {name}。可用题集：{sets}。例如输入 `/set quick-20`。"},
    "set.not_run": {"en": "Not run: {error}.", "zh": "未运行：{error}。"},
    "set.last": {"en": "That was the last of the {total} items of {name}.",
                 "zh": "这是 {name} 全部 {total} 条中的最后一条。"},
    "set.item": {"en": "**{name}** item {number} of {total} · `{item}` ({category}, {difficulty}){document}:"
                       "\n\n{question}",
                 "zh": "**{name}** 第 {number} 条，共 {total} 条 · `{item}`（{category}，{difficulty}）{document}："
                       "\n\n{question}"},
    "set.document": {"en": " (after a generated document of about {tokens} tokens)",
                     "zh": "（前附约 {tokens} 个词元的生成文档）"},
    "set.next": {"en": "Next item ({number} of {total})", "zh": "下一条（第 {number} 条，共 {total} 条）"},
    "set.done": {"en": "Done: no more items", "zh": "完成：没有更多条目"},
    # --- the leaderboard ---
    "leaderboard.author": {"en": "Leaderboard", "zh": "排行榜"},
    "leaderboard.heading": {"en": "Leaderboard", "zh": "排行榜"},
    "leaderboard.intervals": {"en": "intervals are 95%", "zh": "区间为 95%"},
    # --- attached documents ---
    "documents.author": {"en": "Documents", "zh": "文档"},
    "documents.not_sent": {"en": "Not sent: {error}", "zh": "未发送：{error}"},
    "documents.attached": {"en": "Attached {listed}. Both models get the documents before your question, each cut "
                                 "to its own context window if needed.",
                           "zh": "已附加 {listed}。两个模型都会在你的问题之前收到这些文档，必要时各自按自己的上下文"
                                 "窗口截断。"},
    "documents.item": {"en": "{name} ({chars} characters{pages})", "zh": "{name}（{chars} 个字符{pages}）"},
    "documents.pages": {"en": ", {pages} pages", "zh": "，{pages} 页"},
    # --- the needle sweep ---
    "needle.author": {"en": "Needle", "zh": "大海捞针"},
    "needle.usage": {"en": "Type e.g. `/needle 512,1k 0,50,100`: document lengths in tokens (k = 1,024), then "
                           "depths in percent.",
                     "zh": "例如输入 `/needle 512,1k 0,50,100`：先是文档长度（词元，k = 1,024），再是深度（百分比）。"},
    "needle.not_run": {"en": "Not run: {error}", "zh": "未运行：{error}"},
    "needle.started": {"en": "Needle in a haystack: {cells} cells…", "zh": "大海捞针：{cells} 个单元…"},
    "needle.progress": {"en": "Needle in a haystack: {done} cells done, {failed} failed…",
                        "zh": "大海捞针：已完成 {done} 个单元，失败 {failed} 个…"},
    "needle.result": {"en": "Needle in a haystack: {done} cells done, {failed} failed, {skipped} answered before."
                            "{problems}",
                      "zh": "大海捞针：已完成 {done} 个单元，失败 {failed} 个，{skipped} 个此前已回答。{problems}"},
    "needle.problem": {"en": "\n- cell {item}: {problem}", "zh": "\n- 单元 {item}：{problem}"},
    "needle.maps": {"en": "Answers containing the code, per length and depth (one map per model).",
                    "zh": "包含密码的回答，按长度和深度（每个模型一张图）。"},
}

# The leaderboard's table titles and column headers come from playground/output/tables.py (the
# same tables as `playground report`, in English): shown in Chinese through this glossary. A
# title or header not listed here is shown as it is.
LEADERBOARD_TERMS_ZH: dict[str, str] = {
    "Leaderboard (Bradley-Terry, Elo scale, 95% interval)":
        "排行榜（Bradley-Terry，Elo 分制，95% 区间）",
    "Scores (mean, 95% bootstrap interval)": "评分（均值，95% 自助法区间）",
    "Scores by category": "按类别评分",
    "Latency (p50 / p90 / p99)": "延迟（p50 / p90 / p99）",
    "Latency by prompt length (medians of complete answers)": "按提示词长度的延迟（完整回答的中位数）",
    "Prefix cache (answers whose server reported cached prompt tokens)": "前缀缓存（服务器报告了缓存提示词元的回答）",
    "Automatic checks: answers containing the reference (Wilson 95%)": "自动检查：包含参考答案的回答（Wilson 95%）",
    "LLM judge vs human votes on the same turns": "LLM 评审与人工投票（同一轮次）",
    "Agreement by rater pair (linear-weighted kappa)": "评分者两两一致性（线性加权 kappa）",
    "rank": "名次",
    "model": "模型",
    "rating": "评分",
    "95% interval": "95% 区间",
    "battles": "对战数",
    "win rate (Wilson 95%)": "胜率（Wilson 95%）",
    "online Elo": "在线 Elo",
    "accuracy": "准确性",
    "fluency": "流畅性",
    "ratings": "评分数",
    "category": "类别",
    "prompt length": "提示词长度",
    "votes": "投票数",
    "rating (95% interval)": "评分（95% 区间）",
    "wins/decisive": "胜/决定性",
    "answers": "回答数",
    "prompt tokens": "提示词元",
    "prefill tokens/s": "预填充 词元/秒",
    "with a hit": "命中数",
    "cached share of prompt tokens": "提示词元缓存占比",
    "TTFT s with a hit (median)": "命中时 TTFT 秒（中位数）",
    "TTFT s without (median)": "未命中时 TTFT 秒（中位数）",
    "correct": "正确",
    "rate": "比率",
    "judge": "评审模型",
    "agreement": "一致率",
    "rater": "评分者",
    "shared items": "共同条目",
    "Style coefficients (log-odds of a win per standard deviation of the normalised difference "
    "(a - b) / (a + b + 1); positive: raters prefer more of it)":
        "风格系数（归一化差值 (a - b) / (a + b + 1) 每个标准差对应的获胜对数几率；正值：评分者偏好更多）",
    "Rater quality (0-1: gold items, agreement with others, pace, straight-lining)":
        "评分者质量（0-1：金标准条目、与他人一致性、速度、千篇一律）",
    "raw rating (95% interval)": "原始评分（95% 区间）",
    "raw rank": "原始名次",
    "style-controlled rating (95% interval)": "风格控制后评分（95% 区间）",
    "controlled rank": "控制后名次",
    "change": "变化",
    "feature": "特征",
    "coefficient": "系数",
    "rating points per SD": "每个标准差的评分点数",
    "gold agreement": "金标准一致率",
    "peer agreement": "同伴一致率",
    "median time s": "中位用时（秒）",
    "straight-lining": "千篇一律",
    "quality": "质量",
}


def language_of(tag: str | None) -> Language:
    """The catalogue's language for a browser language tag (``zh-CN``, ``zh``, ``zh-Hans-CN``, ``en-US``,
    ``de``...): Chinese for any ``zh`` tag, else English."""
    primary = (tag or "").strip().replace("_", "-").split("-")[0].lower()
    return "zh" if primary == "zh" else DEFAULT_LANGUAGE


def text(language: Language, key: str, **values: object) -> str:
    """The label ``key`` in ``language``, its ``{placeholders}`` filled from ``values``."""
    entry = CATALOGUE[key]
    template = entry.get(language) or entry[DEFAULT_LANGUAGE]
    return template.format(**values) if values else template


def term(language: Language, english: str) -> str:
    """A leaderboard title or header from playground/output/tables.py in ``language``."""
    return LEADERBOARD_TERMS_ZH.get(english, english) if language == "zh" else english
