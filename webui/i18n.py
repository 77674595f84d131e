"""Every user-visible string of the demo, in Chinese (the default) and English, and the registry that relabels."""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from hybrid.redact import hide_paths
from hybrid.weight_model import FEATURES as WEIGHT_FEATURES

LANGUAGES: dict[str, str] = {"中文": "zh", "English": "en"}
DEFAULT_LANGUAGE = "zh"

TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "混合检索演示",
        "subtitle": "关键词 (BM25) 与语义向量并排比较，再融合成一个排名。改动任何参数都会立即重新排序。",
        "language": "语言 / Language",
        "tab_search": "搜索",
        "tab_evaluate": "评测",
        # knowledge base
        "kb_panel": "知识库 · {summary}（点击展开：编辑、上传、换示例）",
        "kb_label": "知识库（每行一条）",
        "kb_placeholder": "每行输入一条知识，例如：\n苹果是一种很好吃的水果。\n法国的首都是巴黎。",
        "sample_label": "示例知识库",
        "split_label": "把长段落拆成句子",
        "upload_label": "上传文件（.txt .md .csv .jsonl）",  # short: on a phone a second line covered the icon
        "upload_mode_label": "上传的内容",
        "upload_replace": "替换知识库（可撤销）",
        "upload_append": "追加到末尾",
        "undo_button": "撤销",
        "kb_count": "共 {n} 条",
        "kb_store": "{where} · 共 {n} 条（只读）",
        "kb_panel_store": "知识库 · {summary}",
        "kb_store_ready": "向量检索就绪：{model}",
        "kb_store_keyword_only": "只有关键词检索：{error}",
        "kb_store_loading": "关键词检索就绪；向量引擎加载后即可语义检索（集合里已有向量，无需重新向量化）",
        "bm25_fixed": "由集合在建库时固定",
        "kb_count_sample": "{sample} · 共 {n} 条",
        "kb_indexed": "向量索引就绪：{n} 条 · {model}",
        "kb_keyword_only": "关键词索引就绪（{n} 条）；向量引擎加载后自动向量化",
        "kb_too_many": "知识库有 {n} 条，超过本演示的上限 {limit} 条，未建立索引；文本已保留。"
                       "请删减，或用命令行“python -m hybrid search --kb 文件”处理大文件。",
        "kb_too_many_lines": "知识库文本最多可有 {n} 条（行与句），远超本演示的上限 {limit} 条，未建立索引；文本已保留。"
                             "请删减，或用命令行“python -m hybrid search --kb 文件”处理大文件。",
        "kb_entry_too_long": "第 {n} 条有 {chars} 个字，超过本演示每条的上限 {limit} 个字，整个知识库未建立索引；文本已保留。"
                             "请把它分成几行，或勾选“把长段落拆成句子”。",
        "kb_entry_too_long_unsplittable": "第 {n} 条有 {chars} 个字，超过本演示每条的上限 {limit} 个字，整个知识库未建立索引；"
                                          "文本已保留。请把它分成几行：它没有句末标点（。！？；!?;），拆句也拆不开。",
        "kb_empty": "知识库为空：请每行输入一条知识，或上传文件。",
        "progress_embed": "正在向量化知识库",
        "progress_unit": "条",
        "upload_replaced": "已用 {name} 的 {n} 条替换了知识库（原来 {old} 条）。点“撤销”可恢复原来的内容。",
        "upload_appended": "已把 {name} 的 {n} 条追加到知识库末尾，现在共 {total} 条。",
        "upload_replaced_unindexed": "已用 {name} 的 {n} 条替换了知识库（原来 {old} 条），但它超出本演示的上限，未建立索引"
                                     "（原因见文本框下的一行）。点“撤销”可恢复原来的内容。",
        "upload_appended_unindexed": "已把 {name} 的 {n} 条追加到知识库末尾，现在共 {total} 条，但超出本演示的上限，"
                                     "未建立索引（原因见文本框下的一行）。点“撤销”可恢复原来的内容。",
        "upload_failed": "无法读取上传的文件：{error} 知识库内容保持不变。",
        "upload_empty": "{name} 中没有可用的文本行，知识库内容保持不变。",
        "upload_not_received": "只能读取通过本页面上传的文件，{name} 不是上传的文件。知识库内容保持不变。",
        "sample_loaded": "已换成示例知识库“{sample}”（{n} 条）。点“撤销”可恢复原来的内容。",
        "kb_restored": "已换回另一份知识库（{n} 条）。再点一次可再换回来。",
        "eval_tokenizer_changed": "这次评测用的分词（{then}）与搜索页现在的分词（{now}）不同：请重新评测，再导出。",
        "eval_opened_kb": "评测的知识库（{n} 条）已替换搜索页的知识库（原来 {old} 条）。点“撤销”可恢复原来的内容。",
        # query
        "query_label": "查询",
        "query_placeholder": "输入问题后按回车，例如：怎样学好英语",
        "search_button": "开始搜索",
        "share_button": "分享链接",
        "share_label": "分享链接（已复制；打开它会重现这次查询与参数）",
        "share_custom_kb": "注意：链接只包含查询、示例名和参数，不包含你自己输入或上传的知识库。",
        "share_opened_own_kb": "这个链接的搜索是分享者在自己的知识库上做的，链接里不包含那个知识库；"
                               "下面是同一查询和参数在示例知识库“{sample}”上的结果，可能与分享者看到的不同。",
        "share_own_dict": "链接带上了分词方式和繁简折叠，但不包含你上传的用户词典：对方用的是{which}。",
        "share_opened_own_dict": "分享者用了自己上传的用户词典，链接里不包含它：这里用的是{which}，"
                                 "关键词结果可能不同（可在“分词”面板上传同一个词典）。",
        "dict_jieba": "jieba 自带的词典",
        "dict_server": "这个服务器的用户词典",
        "examples_label": "试试这些查询（点击即搜索）",
        # controls
        "alpha_label": "alpha：语义权重",
        "alpha_info_weighted": "weighted：混合分 = α × 语义 + (1 − α) × 关键词；0 = 只用关键词，1 = 只用语义",
        "alpha_info_rrf": "rrf：语义名次权重 α，关键词名次权重 1 − α；0 = 只用关键词，1 = 只用语义",
        "alpha_info_adaptive": "adaptive：α 是查询词全被关键词匹配到时的语义权重，匹配到的越少语义权重越大"
                               "（实际用的 α 见列标题）；1 = 只用语义，0 并不是只用关键词（要只用关键词请选 weighted）",
        "fusion_label": "融合方法",
        "normalizer_label": "分数归一化",
        "normalizer_info_used": "只对 weighted 有效",
        "normalizer_info_unused": "{fusion} 不用它（只对 weighted 有效）",
        "k_label": "每列条数 (top-k)",
        "more_controls": "更多参数：BM25 k1 / b、相关阈值、候选窗口",
        "k1_label": "BM25 k1",
        "b_label": "BM25 b",
        "k1_info": "词频饱和",
        "b_info": "文档长度归一",
        "threshold_label": "相关阈值",
        "threshold_info_evidence": "绿色 = 条目含查询词（按 idf 加权）≥ 阈值，或其余弦高出知识库平均 ≥ √(2 ln n) 个"
                                   "标准差（n 个条目里不相关条目最高也大约到这里）；不是概率（规则选自 {source}），默认 {value}",
        "calibration_source_evidence": "5 个评测集（中文、英文、中英混合）各一半的查询",
        # results
        "column_picker": "显示哪一列",
        "col_keyword": "关键词 (BM25)",
        "col_semantic": "语义 ({model})",
        "col_semantic_none": "语义",
        "col_hybrid": "混合 ({fusion}, α={alpha})",
        "col_hybrid_none": "混合",
        "short_keyword": "关键词",
        "short_semantic": "语义",
        "short_hybrid": "混合",
        "col_reranked": "精排 ({model}, 前 {n} 条)",
        "col_reranked_none": "精排 (rerank)",
        "short_reranked": "精排",
        "score_rerank": "精排分",
        "vs_hybrid": "混合",
        "vs_hybrid_title": "与混合列的名次相比：精排模型把它提前（↑）或挪后（↓）了几位",
        "bar_note_rerank": "条长 = 精排相关概率",
        "rerank_n_label": "精排：重排混合结果的前 N 条 (top-N)",
        "rerank_n_info": "N 越大越可能找回好结果，也越慢（每条都要过一次精排模型）",
        "rerank_loading": "精排模型加载中…（{model}）加载完成后自动补上。",
        "rerank_failed": "精排模型加载失败：{error}",
        "rerank_waiting": "精排结果将在向量引擎就绪后显示（精排的是混合列的结果）。",
        "rerank_hint": "**精排（Qwen3-Reranker）未启用。** 启动时加 `--reranker qwen3-0.6b`（CPU 上每次查询约需数十秒）"
                       "或 `--reranker qwen3-4b`；有 CUDA GPU 时默认的 `--reranker auto` 会自动加载 "
                       "Qwen3-Reranker-4B。启用后这里会出现第四列“精排”，对混合结果的前 N 条重新打分排序。",
        "results_placeholder": "输入查询并点击“开始搜索”，或点一个示例查询。",
        "results_placeholder_refused": "这次没有搜索：原因见上方的提示。",
        "no_hits": "没有结果",
        "no_keyword_hits": "没有结果：查询中的词都不在知识库里。语义列可能找得到。",
        "semantic_waiting": "语义结果将在向量引擎就绪后显示。",
        "bar_note_semantic": "条长 = 相对第一名（从知识库平均余弦算起）",
        "bar_note_relative": "条长 = 相对第一名",
        "cosine": "余弦",
        "evidence_words": "含查询词 {share}",
        "evidence_standing": "余弦 {z}σ（需 {needed}σ）",
        "evidence_title": "颜色依据：条目含多少查询词（按 idf 加权），余弦比知识库平均高几个标准差；不是概率",
        "score_bm25": "BM25",
        "score_cosine": "余弦",
        "score_hybrid": "融合分",
        "vs_keyword": "关键词",
        "vs_semantic": "语义",
        "vs_keyword_title": "与关键词列的名次相比（↑ 升了几名，↓ 降了几名，= 名次相同；关键词没有匹配到的条目没有这个标记）",
        "vs_semantic_title": "与语义列的名次相比（↑ 升了几名，↓ 降了几名，= 名次相同；不在语义候选中的条目没有这个标记）",
        "moved_new": "新",
        "relevant": "可能相关",
        "zero_keyword_weight": "这条匹配了关键词（BM25 {bm25}），但这次融合给关键词的权重是 0（α = {alpha}），所以关键词贡献为 0。",
        "zero_keyword_weight_adaptive": "adaptive 在语义最相近的候选里有关键词无法评判的条目（例如用另一种语言写的）时只用语义。",
        "colour_legend": "<small>卡片颜色：**绿色** = 有强证据（条目含查询里的大部分词，或其余弦明显高于知识库里其他条目）；"
                         "**灰色** = 证据不够强，不等于不相关（换一种说法的问题常常如此：看排名，或在下面评判）。</small>",
        "grade_0": "不相关",
        "grade_1": "相关",
        "grade_2": "很相关",
        "judge_label": "评判：",
        "judge_title": "评判这条结果与当前查询的相关程度（再点一次取消）；同一条在每一列都显示",
        "judged_badge": "已评 {grade} {name}",
        "judge_line": "评判（当前查询与设置）：nDCG@{k} {scores} · 显示的 {shown} 条中 {unjudged} 条未评判 · 本会话共 {total} 条评判",
        "judge_line_none": "评判：这个查询还没有评为相关（1 或 2）的结果，nDCG 无从计算 · 显示的 {shown} 条中 {unjudged} 条未评判 · 本会话共 {total} 条评判。点每条结果下的 0 / 1 / 2 即可评判。",
        "judge_line_cut": "（按显示的前 {k} 条计算；评测页按前 10 条，把 k 调到 10 即可对照）",
        "judge_download": "下载评判 (zip)",
        "judge_upload": "上传评判 (zip)",
        "judge_file": "评判文件（queries.jsonl、corpus.jsonl、qrels.tsv，评估页可直接上传）",
        "judge_none": "还没有评判：先点搜索结果下的 0 / 1 / 2。",
        "judge_downloaded": "已打包 {n} 条评判（{q} 个查询）与知识库的 {docs} 条：评估页可直接上传这个 zip。",
        "judge_loaded": "已载入 {n} 条评判（{q} 个查询）。",
        "judge_loaded_kb": "已载入 {n} 条评判（{q} 个查询）；知识库换成了评判时的 {docs} 条（知识库面板里可撤销）。",
        "judge_failed": "评判文件无法使用：{error}",
        "judge_replaced_kb": "评判文件把知识库换成了评判时的 {n} 条（原来 {old} 条）。点“撤销”可恢复原来的内容。",
        "judge_stale": "这条结果已不在当前知识库里（知识库刚改动过）：重新搜索后再评判。",
        "err_judge_bad_query": "评判需要它所对应的查询（1 到 {limit} 个字符）。",
        "err_judge_bad_grade": "评分 {grade} 无效：只能是 0、1 或 2。",
        "err_judge_too_many": "这个会话已有 {limit} 条评判：请先下载，再开一个新会话。",
        "err_judge_long_query": "queries.jsonl 里的查询 {id} 太长：评判的查询最多 {limit} 个字符。",
        "err_judge_queries_too_long": "评判的查询合计最多 {limit} 个字符：请先下载评判，再开一个新会话。",
        "err_judge_zip_size": "zip 文件（或解压后）超过了 {limit} MB 的上限。",
        "err_judge_not_zip": "这不是 zip 文件：请上传本页下载的评判 zip。",
        "err_judge_zip_missing": "zip 里缺少 {missing}：需要 corpus.jsonl、queries.jsonl、qrels.tsv 三个文件。",
        "err_judge_not_utf8": "{name} 不是 UTF-8 编码。",
        "err_judge_bad_line": "{name} 第 {line} 行格式不对。",
        "err_judge_unknown_id": "qrels.tsv 第 {line} 行的 {id} 在 queries.jsonl 或 corpus.jsonl 里找不到。",
        "eval_judged": "评估我的评判",
        "eval_no_judgements": "这个会话还没有评为相关的评判：在搜索页点结果下的 1 或 2，再回来评估。",
        "parts": "= 关键词 {kw} + 语义 {sem}",
        "zero_adaptive": "0：没有关键词匹配，余弦也不高于知识库的平均余弦（没有相关的证据）；并列为 0 的按余弦排序",
        "zero_other": "0：没有关键词匹配，语义部分也是 0（归一化给出的最低值）；并列为 0 的按余弦排序",
        # why this rank, per hit
        "why_hit": "为什么排第 {rank}？",
        "why_hit_part": "部分",
        "why_hit_raw": "原始分",
        "why_hit_norm": "归一化",
        "why_hit_weight": "权重",
        "why_hit_contribution": "贡献",
        "why_hit_keyword": "关键词",
        "why_hit_semantic": "语义",
        "why_hit_total": "混合分 = {kw} + {sem}",
        "why_hit_rrf": "rrf 的“归一化”= 60 / (60 + 名次)，权重已除以 60。",
        "why_hit_no_keyword": "关键词没有匹配到这条（或排在候选窗口外）：关键词贡献为 0。",
        "why_hit_no_semantic": "这条不在语义候选中：语义贡献为 0。",
        "why_hit_semantic_lookup": "这条不在语义列表的前列；融合时另查了它的余弦，语义部分照样计入。",
        "why_hit_matched": "匹配的查询词：{tokens}",
        # why this rank, summary table
        "why_label": "为什么这样排序：混合列全部结果的得分汇总表",
        "why_rank": "排名",
        "why_text": "文本",
        "why_bm25": "BM25 原始分",
        "why_bm25_norm": "BM25 归一化",
        "why_cosine": "余弦",
        "why_cosine_norm": "余弦归一化",
        "why_kw_weight": "关键词权重",
        "why_sem_weight": "语义权重",
        "why_kw_part": "关键词贡献",
        "why_sem_part": "语义贡献",
        "why_total": "混合分",
        "why_alpha": "本次查询实际使用的 α = {alpha}，所有结果相同（adaptive 按关键词覆盖率调整；语义前 10 条里有查询词无法匹配的其他语言条目时为 1）。每行：贡献 = 权重 × 归一化分，混合分 = 两项贡献之和。",
        "why_alpha_blind": "**这次查询只用语义**：语义前 10 条里有与查询词不同语言的条目，关键词匹配无法判断它们，所以 α 滑块不改变这次的混合排序；要自己定比例，请选 weighted 融合。",
        "why_alpha_weighted": "本次查询使用的 α = {alpha}，即滑块的值，所有结果相同（weighted 不调整它）。每行：贡献 = 权重 × 归一化分，混合分 = 两项贡献之和。",
        "why_alpha_rrf": "本次查询使用的 α = {alpha}，即滑块的值，所有结果相同。rrf 按名次而不按分数融合：每个“归一化分”是 {rrf_k} / ({rrf_k} + 该条在那一列的名次)，权重是 α / {rrf_k} 与 (1 − α) / {rrf_k}。每行：贡献 = 权重 × 归一化分，混合分 = 两项贡献之和。",
        # notices
        "notice_empty_query": "请输入查询词。",
        "notice_empty_kb": "知识库为空：请先展开上方的“知识库”输入知识（每行一条）或上传文件。",
        "notice_loading": "向量引擎仍在加载，下面只有关键词结果；加载完成后会自动补上语义与混合结果。",
        "notice_failed": "向量引擎不可用，下面只有关键词结果。",
        "notice_indexing": "知识库刚刚改动，正在重新向量化：下面暂时只有关键词结果，完成后自动更新。",
        "notice_reindexing": "知识库刚刚改动，正在更新索引（无需向量化）：下面暂时只有关键词结果，马上自动更新。",
        "notice_error": "搜索出错：{error}",
        "notice_wait_for_index": "这份知识库（{chars} 个字符）还没有建好索引：正在建立时请等它建好再搜索；若没有在建立（页面开了很久），刷新页面即可重建。还没建索引的文本只在 {limit} 个字符以内时临时做关键词搜索。",
        "notice_no_index": "本页还没有向量索引：正在建立，或服务器已按规定丢弃了它（建立 {hours} 小时后，或访问者太多时）。"
                           "下面只有关键词结果；刷新页面即可重新建立。",
        "notice_query_cut": "查询有 {chars} 个字，超过本演示的上限 {limit} 个字：只用了前 {limit} 个字。",
        "notice_truncated": "查询有 {chars} 个字，超过 {model} 一次能读的 {limit} 个词元：只用了前 {kept} 个字搜索。",
        "notice_no_keyword": "关键词搜索没有找到：查询里的词（{tokens}）都不在知识库中。语义列按意思排序。",
        "notice_no_query_words": "关键词搜索没有找到：查询里没有可供关键词匹配的词（只有标点、表情或停用词）。语义列按意思排序。",
        # status
        "status_loading": "正在加载向量引擎…（{model}）关键词搜索已经可用。",
        "status_ready": "向量空间已展开：{model} · {dimension} 维 · {device} · {dtype}",
        "status_fallback": "未能使用所请求的模型，已改用内置模型。原因：{reason}",
        "status_failed": "向量引擎加载失败，只能进行关键词搜索。原因：{error}",
        # behind the scenes
        "backstage_label": "查看幕后数据：查询向量与各阶段耗时",
        "vec_dimension": "维度",
        "vec_min": "最小值",
        "vec_max": "最大值",
        "vec_mean": "均值",
        "vec_norm": "L2 范数",
        "vec_model": "模型",
        "vec_device": "设备",
        "vec_dtype": "精度",
        "vec_none": "还没有查询向量：语义搜索运行后这里会显示向量数据。",
        "vec_index": "维度",
        "vec_value": "数值",
        "plot_bar_title": "查询向量的前 {n} 维",
        "plot_hist_title": "全部 {n} 维数值的分布",
        "plot_count": "维数",
        "plot_bar_label": "查询向量前 50 维的柱状图",
        "plot_hist_label": "查询向量数值分布的直方图",
        "timing_stage": "阶段",
        "timing_ms": "耗时 (ms)",
        "stage_tokenize": "分词",
        "stage_keyword": "BM25 检索",
        "stage_embed": "查询向量化",
        "stage_vector": "向量检索",
        "stage_fuse": "融合",
        "stage_rerank": "精排",
        "stage_total": "总计",
        # samples
        "sample_everyday": "日常知识",
        "sample_mixed_zh_en": "中英混合客服问答",
        "sample_tech_faq": "技术问答",
        # evaluation tab
        "eval_help": "上传一个带标注的评测集，比较关键词、语义和混合检索的质量，并找出最好的 α。两种格式任选其一：\n\n"
                     "- 三个文件：`corpus.jsonl`（每行 `{\"id\": ..., \"text\": ...}`）、`queries.jsonl`（同样格式）和 "
                     "`qrels.tsv`（每行 `查询id`、`文档id`、`相关度`，用制表符分隔，相关度 > 0 表示相关）；"
                     "BEIR 格式（`_id`、`title`，qrels 带表头）也可以；\n"
                     "- 或一个 CSV：两列 `查询, 相关文本`（同一个查询可以占多行，每行一个相关文本）；"
                     "搜索的是搜索页的知识库，知识库里没有的相关文本会加进去（没有知识库时只搜索这些相关文本）；\n"
                     "- 没有标注时，只上传 `queries.jsonl`（可加 `corpus.jsonl`，否则搜索当前知识库）："
                     "页面比较各种设置的排序重合度；\n"
                     "- 或搜索页“下载评判”得到的 zip；也可以直接点“评估我的评判”，用本会话在搜索页做的评判评测当前知识库。\n\n"
                     "一次最多上传 3 个文件（多了服务器会拒绝整个上传，文件框只显示“错误”）：只选上面这些文件，"
                     "不要连同文件夹里的其他文件（如 `SOURCE.json`）一起选。",
        "eval_files": "评测文件",
        "eval_max_queries": "评测的查询数（0 = 全部）",
        "eval_bad_limit": "评测的查询数应为 0（全部）或正整数，而不是 {value}。",
        "eval_run": "开始评测",
        "eval_judged_name": "我的评判",
        "eval_judged_elsewhere": "本会话评为相关的条目都不在当前知识库里（{n} 条评判是在换知识库之前做的）：换回当时的知识库，或上传评判 zip（它带着当时的知识库）。",
        "eval_judged_left_out": "{n} 条评判的条目不在当前知识库里（知识库换过了），没有计入这次评测；下载评判可保留它们。",
        "err_one_zip": "评判 zip 请单独上传（先清空上传框）。",
        "eval_table": "质量（越高越好）",
        "eval_curve": "nDCG@10 随 α 的变化",
        "eval_apply": "把最好的设置（α、融合方法、归一化、候选窗口）用到搜索页",
        "eval_need_model": "向量模型现在是“{state}”{error}；评测需要它，请在它就绪后再试。",
        "model_state_loading": "加载中",
        "model_state_failed": "加载失败",
        "model_state_ready": "已就绪",
        "eval_bad_upload": "无法读取评测文件：{error}",
        "eval_no_file": "还没有上传文件。",
        "eval_not_received": "只能读取通过本页面上传的文件，{name} 不是上传的文件。",
        "eval_need_run": "请先运行一次评测。",
        "eval_need_labels": "这次评测没有相关度标注（只有查询），没有可用或可导出的“最好设置”：上传 qrels（或评判结果）再运行。",
        "eval_note": "**{dataset}**：{queries} 个查询，{docs} 篇文档，模型 {model}。最好的设置：{fusion}，α = {alpha}（nDCG@10 = {ndcg}）。",
        "eval_applied": "已把 α = {alpha}、融合方法 {fusion}、归一化 {normalizer}、候选窗口 {window} 用到搜索页。",
        "eval_stage_documents": "正在向量化文档",
        "eval_stage_queries": "正在向量化查询",
        "eval_stage_ranking": "正在排序",
        "eval_method": "方法",
        "eval_keyword": "关键词 (BM25)",
        "eval_semantic": "语义",
        "eval_hybrid": "混合（默认：{fusion}, α {alpha}）",
        "eval_best": "最好的扫描点（{fusion}, α {alpha}）",
        "eval_plot_title": "{dataset}：nDCG@10 随 α 变化<br><sup>{model}</sup>",
        "eval_plot_x": "α（语义权重）",
        "eval_plot_only": "只用{name} {value}",
        "eval_plot_default": "默认（{fusion}）",
        # errors of files a visitor gives (``hybrid.kb.UserError`` keys, shown instead of their English message)
        "err_undecodable": "{name} 既不是 UTF-8，也不是 GBK/GB18030 或 Big5 编码：请另存为 UTF-8 后重新上传。",
        "err_bad_utf16": "{name} 以 UTF-16 的字节序标记开头，却无法按 UTF-16 读出：请另存为 UTF-8 文本后重新上传。",
        "err_binary": "{name} 含有 NUL 字节：它是二进制文件（或没有字节序标记的 UTF-16 文本），不是文本。请另存为 UTF-8 文本后重新上传。",
        "err_file_type": "{name} 的类型 {suffix} 不支持：请上传 {allowed} 之一。",
        "err_file_no_suffix": "{name} 的文件名没有扩展名，无从得知如何读取：请把它改名为以 {allowed} 之一结尾。",
        "err_file_size": "{name} 有 {size} MB，超过了 {limit} MB 的上限：请拆分文件。",
        "err_json_line": "{name} 第 {line} 行不是有效的 JSON（{detail}）。",
        "err_text_field": "{name} 第 {line} 行应是带 \"text\" 字符串的 JSON 对象。",
        "err_id_text_field": "{name} 第 {line} 行应是带 \"id\"（或 BEIR 的 \"_id\"）和 \"text\" 的 JSON 对象。",
        "err_empty_file": "{name} 是空的：每行需要一个 {{\"id\": ..., \"text\": ...}}。",
        "err_csv_no_text": "{name}：第一行须是列名，其中一列名为 text（条目本身；id 列可选），实际是 {found}。请把存放条目的列命名为 text（没有表头就加一行 id,text），或把条目每行一条存成 .txt。",
        "err_qrels_line": "qrels.tsv 第 {line} 行应为 查询id<TAB>文档id<TAB>相关度，实际是 {got!r}。",
        "err_duplicate_id": "corpus.jsonl 中文档 id {id!r} 出现了两次：id 必须唯一。",
        "err_duplicate_query_id": "queries.jsonl 中查询 id {id!r} 出现了两次：id 必须唯一。",
        "err_no_relevant": "没有任何查询在语料中有相关文档：请检查 qrels.tsv 是否使用 queries.jsonl 和 corpus.jsonl 的 id，"
                           "且相关文档的相关度大于 0。",
        "err_csv_row": "第 {row} 行需要一个查询和它的相关文本，实际是 {got}。",
        "err_csv_grade": "第 {row} 行的相关度 {got!r} 不是整数（0 表示不相关，1、2… 表示相关，越大越相关）。",
        "err_qrels_grade": "qrels.tsv 第 {line} 行的相关度 {got!r} 不是整数（0 表示不相关，1、2… 表示相关，越大越相关）。",
        "err_csv_no_relevant": "没有相关度大于 0 的（查询，相关文本）行。",
        "err_csv_empty": "CSV 中没有数据行；格式应为：查询,相关文本。",
        "err_no_file": "还没有上传文件。",
        "err_one_csv": "CSV 请单独上传，或者上传三个评测文件。",
        "err_missing_files": "缺少 {files}。请把一个评测集的文件一起上传（再次上传会替换之前的文件）。",
        "err_unknown_files": "{files} 不是评测集的文件：文件要命名为 corpus.jsonl、queries.jsonl 和 qrels.tsv（或上传一个 .csv，或搜索页下载的评判 .zip）。请清空评测文件框后重新上传。",
        "err_duplicate_files": "{files} 上传了不止一个：请点评测文件框右上角的 × 清空后，再一次性上传三个文件。",
        "err_too_many_docs": "语料有 {n} 篇文档，本页面最多评测 {limit} 篇（更大的评测集请运行 "
                             "`python -m hybrid.evaluate --data 文件夹`，或删减语料）。",
        "eval_uploaded": "上传的评测集",
        "export_button": "导出设置",
        "export_file": "设置文件（JSON：用 --config 载入；内含 Milvus / Elasticsearch / OpenSearch 的对应配置）",
        "export_best_button": "导出最好的设置",
        "kb_embedding": "正在向量化 {n} 条（{model}）：完成前只有关键词结果",
        "kb_reembedding": "知识库已改动，正在向量化新增或改动的 {n} 条（{model}）：完成前只有关键词结果",
        "kb_reindexing": "知识库已改动，正在更新索引（每条都已有向量，无需向量化）",
        "kb_failed": "关键词索引就绪（{n} 条）；向量引擎不可用（{error}），只有关键词搜索",
        "semantic_embedding": "正在向量化知识库的 {n} 条：完成后这里自动显示结果。",
        "semantic_reindexing": "正在更新知识库的索引（{n} 条，无需向量化）：马上显示结果。",
        "semantic_failed": "向量引擎不可用（{error}）：只有关键词结果。",
        "notice_embedding": "向量引擎已就绪，正在向量化知识库：下面暂时只有关键词结果，完成后自动更新。",
    },
    "en": {
        "title": "Hybrid search demo",
        "subtitle": "Keyword (BM25) and semantic vectors side by side, fused into one ranking. "
                    "Every control re-ranks at once.",
        "language": "语言 / Language",
        "tab_search": "Search",
        "tab_evaluate": "Evaluate",
        "kb_panel": "Knowledge base · {summary} (click to edit, upload or pick a sample)",
        "kb_label": "Knowledge base (one entry per line)",
        "kb_placeholder": "One entry per line, e.g.\nApples are a tasty fruit.\nParis is the capital of France.",
        "sample_label": "Sample knowledge base",
        "split_label": "Split long paragraphs into sentences",
        "upload_label": "Upload a file (.txt .md .csv .jsonl)",
        "upload_mode_label": "Uploaded entries",
        "upload_replace": "replace the knowledge base (undoable)",
        "upload_append": "append at the end",
        "undo_button": "Undo",
        "kb_count": "{n} entries",
        "kb_store": "{where} · {n} entries (read-only)",
        "kb_panel_store": "Knowledge base · {summary}",
        "kb_store_ready": "Vector search ready: {model}",
        "kb_store_keyword_only": "Keyword search only: {error}",
        "kb_store_loading": "Keyword search ready; semantic search once the model is loaded (the collection holds "
                            "its vectors: nothing is re-embedded)",
        "bm25_fixed": "fixed by the collection when it was built",
        "kb_count_sample": "{sample} · {n} entries",
        "kb_indexed": "Vector index ready: {n} entries · {model}",
        "kb_keyword_only": "Keyword index ready ({n} entries); embedded automatically once the model is loaded",
        "kb_too_many": "The knowledge base has {n} entries, more than this demo's limit of {limit}; it was not "
                       "indexed and your text is kept. Shorten it, or use \"python -m hybrid search --kb FILE\" "
                       "for large files.",
        "kb_too_many_lines": "The knowledge base text has up to {n} entries (lines and sentences), far more than "
                             "this demo's limit of {limit}; it was not indexed and your text is kept. Shorten it, or "
                             "use \"python -m hybrid search --kb FILE\" for large files.",
        "kb_entry_too_long": "Entry {n} has {chars} characters, more than this demo's limit of {limit} an entry; "
                             "the knowledge base was not indexed and your text is kept. Break it into several "
                             "lines, or tick \"Split long paragraphs into sentences\".",
        "kb_entry_too_long_unsplittable": "Entry {n} has {chars} characters, more than this demo's limit of {limit} "
                                          "an entry; the knowledge base was not indexed and your text is kept. Break "
                                          "it into several lines: it has no sentence end (。！？；!?;) to split at.",
        "kb_empty": "The knowledge base is empty: type one entry per line or upload a file.",
        "progress_embed": "Embedding the knowledge base",
        "progress_unit": "entries",
        "upload_replaced": "Replaced the knowledge base ({old} entries) with {n} entries from {name}. "
                           "\"Undo\" brings the previous text back.",
        "upload_appended": "Appended {n} entries from {name}; the knowledge base now has {total}.",
        "upload_replaced_unindexed": "Replaced the knowledge base ({old} entries) with {n} entries from {name}, but it "
                                     "is over this demo's limits and was not indexed (the line under the text box "
                                     "says why). \"Undo\" brings the previous text back.",
        "upload_appended_unindexed": "Appended {n} entries from {name}; the knowledge base now has {total}, over this "
                                     "demo's limits, so it was not indexed (the line under the text box says why). "
                                     "\"Undo\" brings the previous text back.",
        "upload_failed": "Cannot read the uploaded file: {error} The knowledge base is unchanged.",
        "upload_empty": "{name} holds no usable lines; the knowledge base is unchanged.",
        "upload_not_received": "Only files uploaded through this page can be read, and {name} was not uploaded "
                               "here. The knowledge base is unchanged.",
        "sample_loaded": "Loaded the sample \"{sample}\" ({n} entries). \"Undo\" brings the previous text "
                         "back.",
        "kb_restored": "Swapped to the other knowledge base ({n} entries). Click again to swap back.",
        "eval_tokenizer_changed": "This evaluation tokenised with {then}, the search tab now tokenises with {now}: "
                                  "run the evaluation again, then export.",
        "eval_opened_kb": "The evaluated knowledge base ({n} entries) replaced the search tab's ({old} entries). "
                          "\"Undo\" brings the previous text back.",
        "query_label": "Query",
        "query_placeholder": "Type a question and press Enter, e.g. capital of France",
        "search_button": "Search",
        "share_button": "Share link",
        "share_label": "Share link (copied; opening it reproduces this query and these settings)",
        "share_custom_kb": "Note: the link carries the query, the sample's name and the settings, not a "
                           "knowledge base you typed or uploaded.",
        "share_opened_own_kb": "This link's search was made on the sharer's own knowledge base, which a link does "
                               "not carry; below are the same query and settings on the sample \"{sample}\", whose "
                               "results may differ from what the sharer saw.",
        "share_own_dict": "The link carries the tokeniser's mode and folding, not the user dictionary you uploaded: "
                          "its recipient gets {which}.",
        "share_opened_own_dict": "The sharer used a user dictionary of their own, which a link does not carry: this "
                                 "page uses {which}, so keyword results may differ (upload the same dictionary in "
                                 "the tokeniser panel).",
        "dict_jieba": "jieba's own dictionary",
        "dict_server": "this server's user dictionary",
        "examples_label": "Try these queries (click to search)",
        "alpha_label": "alpha: semantic weight",
        "alpha_info_weighted": "weighted: score = α × semantic + (1 − α) × keyword; 0 = keyword only, 1 = semantic only",
        "alpha_info_rrf": "rrf: semantic ranks weigh α, keyword ranks 1 − α; 0 = keyword only, 1 = semantic only",
        "alpha_info_adaptive": "adaptive: α is the semantic weight when keyword matching found every query word; the "
                               "fewer it found, the more semantic weighs (the α used is in the column title); 1 = "
                               "semantic only, 0 is not keyword only (choose weighted for that)",
        "fusion_label": "Fusion method",
        "normalizer_label": "Score normaliser",
        "normalizer_info_used": "used by weighted only",
        "normalizer_info_unused": "{fusion} does not use it (weighted only)",
        "k_label": "top-k per column",
        "more_controls": "More controls: BM25 k1 / b, relevance threshold, candidate window",
        "k1_label": "BM25 k1",
        "b_label": "BM25 b",
        "k1_info": "term-frequency saturation",
        "b_info": "length normalisation",
        "threshold_label": "Relevance threshold",
        "threshold_info_evidence": "green = the entry holds at least this share of the query's words (idf-weighted) "
                                   "or its cosine lies √(2 ln n) or more standard deviations above the mean of the "
                                   "knowledge base's n entries (about where the best unrelated one lands); not a "
                                   "probability (rule chosen on {source}), default {value}",
        "calibration_source_evidence": "5 labelled sets (zh, en, mixed), half of their queries",
        "column_picker": "Column shown",
        "col_keyword": "Keyword (BM25)",
        "col_semantic": "Semantic ({model})",
        "col_semantic_none": "Semantic",
        "col_hybrid": "Hybrid ({fusion}, α={alpha})",
        "col_hybrid_none": "Hybrid",
        "short_keyword": "Keyword",
        "short_semantic": "Semantic",
        "short_hybrid": "Hybrid",
        "col_reranked": "Reranked ({model}, top {n})",
        "col_reranked_none": "Reranked",
        "short_reranked": "Reranked",
        "score_rerank": "rerank",
        "vs_hybrid": "hyb",
        "vs_hybrid_title": "rank change against the hybrid list: how far the reranker moved it up (↑) or down (↓)",
        "bar_note_rerank": "bar: reranker's P(relevant)",
        "rerank_n_label": "Rerank: the first N hybrid hits (top-N)",
        "rerank_n_info": "a larger N can recover more good hits and is slower (each goes through the reranker)",
        "rerank_loading": "Loading the reranker… ({model}) Reranked results follow automatically.",
        "rerank_failed": "The reranker failed to load: {error}",
        "rerank_waiting": "Reranked results appear once the vector engine is ready (the reranker re-scores the "
                          "hybrid list).",
        "rerank_hint": "**Reranking (Qwen3-Reranker) is off.** Start with `--reranker qwen3-0.6b` (tens of seconds "
                       "per query on a CPU) or `--reranker qwen3-4b`; on a CUDA GPU the default `--reranker auto` "
                       "loads Qwen3-Reranker-4B. A fourth column, Reranked, then re-scores the first N hybrid "
                       "hits.",
        "results_placeholder": "Enter a query and press Search, or click an example query.",
        "results_placeholder_refused": "Nothing was searched: the message above says why.",
        "no_hits": "No hits",
        "no_keyword_hits": "No hits: none of the query's words is in the knowledge base. "
                           "The semantic column may still find something.",
        "semantic_waiting": "Semantic results appear once the vector engine is ready.",
        "bar_note_semantic": "bar: vs top hit (from the mean cosine)",
        "bar_note_relative": "bar: vs top hit",
        "cosine": "cosine",
        "evidence_words": "words {share}",
        "evidence_standing": "cosine {z}σ (needs {needed}σ)",
        "evidence_title": "what the colour reads: how much of the query's words the entry holds (idf-weighted), how "
                          "many standard deviations its cosine lies above the knowledge base's mean; not a probability",
        "score_bm25": "BM25",
        "score_cosine": "cosine",
        "score_hybrid": "fused",
        "vs_keyword": "kw",
        "vs_semantic": "sem",
        "vs_keyword_title": "rank change against the keyword list (↑ up, ↓ down, = same place; shown only for "
                            "hits keyword search matched)",
        "vs_semantic_title": "rank change against the semantic list (↑ up, ↓ down, = same place; shown only for "
                             "semantic candidates)",
        "moved_new": "new",
        "relevant": "likely relevant",
        "zero_keyword_weight": "This entry matched keywords (BM25 {bm25}), but this search gives keywords weight 0 (α = {alpha}), so their part is 0.",
        "zero_keyword_weight_adaptive": " adaptive uses only the semantic side when the closest semantic candidates include entries keyword matching cannot judge (written in another language, say).",
        "colour_legend": "<small>Card colours: **green** = strong evidence (the entry holds most of the query's words, "
                         "or its cosine stands well above the knowledge base's other entries); **grey** = no strong "
                         "evidence, which does not mean irrelevant (a question in other words often is: read the rank, "
                         "or judge it below).</small>",
        "grade_0": "not relevant",
        "grade_1": "relevant",
        "grade_2": "highly relevant",
        "judge_label": "Judge:",
        "judge_title": "Judge how relevant this hit is to the current query (click again to clear); shown on the same entry in every column",
        "judged_badge": "judged {grade} {name}",
        "judge_line": "Judgements (this query and setting): nDCG@{k} {scores} · {unjudged} of {shown} shown hits unjudged · judgements in this session: {total}",
        "judge_line_none": "Judgements: no hit of this query is judged relevant (1 or 2) yet, so nDCG cannot be computed · {unjudged} of {shown} shown hits unjudged · judgements in this session: {total}. Click 0 / 1 / 2 under a hit to judge it.",
        "judge_line_cut": " (over the {k} hits shown; the evaluation tab ranks 10: set k to 10 to compare)",
        "judge_download": "Download judgements (zip)",
        "judge_upload": "Upload judgements (zip)",
        "judge_file": "Judgements (queries.jsonl, corpus.jsonl, qrels.tsv; the evaluation tab reads this zip as it is)",
        "judge_none": "No judgements yet: click 0 / 1 / 2 under a hit first.",
        "judge_downloaded": "Judgements packed: {n} (queries: {q}), with the knowledge base's {docs} entries: upload this zip to the evaluation tab as it is.",
        "judge_loaded": "Judgements loaded: {n} (queries: {q}).",
        "judge_loaded_kb": "Judgements loaded: {n} (queries: {q}); the knowledge base is now the {docs} entries they were made on (undo in the knowledge-base panel).",
        "judge_failed": "The judgements file cannot be used: {error}",
        "judge_replaced_kb": "The judgements file replaced the knowledge base ({old} entries) with the {n} entries it "
                             "was made on. \"Undo\" brings the previous text back.",
        "judge_stale": "This hit is no longer in the knowledge base (it just changed): search again, then judge.",
        "err_judge_bad_query": "A judgement needs the query it was made for (1 to {limit} characters).",
        "err_judge_bad_grade": "Grade {grade} is not valid: use 0, 1 or 2.",
        "err_judge_too_many": "This session already holds {limit} judgements: download them and start a new session.",
        "err_judge_long_query": "Query {id} of queries.jsonl is too long: a judged query has at most {limit} characters.",
        "err_judge_queries_too_long": "Judged queries hold at most {limit} characters together: download the judgements and start a new session.",
        "err_judge_zip_size": "The zip (or what it unpacks to) is over the {limit} MB limit.",
        "err_judge_not_zip": "This is not a zip file: upload the judgements zip this page downloaded.",
        "err_judge_zip_missing": "The zip lacks {missing}; it must hold corpus.jsonl, queries.jsonl and qrels.tsv.",
        "err_judge_not_utf8": "{name} is not UTF-8.",
        "err_judge_bad_line": "{name} line {line} is malformed.",
        "err_judge_unknown_id": "qrels.tsv line {line} names {id}, which queries.jsonl or corpus.jsonl does not hold.",
        "eval_judged": "Evaluate my judgements",
        "eval_no_judgements": "This session has no hit judged relevant yet: click 1 or 2 under a hit in the search tab, then come back.",
        "parts": "= keyword {kw} + semantic {sem}",
        "zero_adaptive": "0: no keyword match, and a cosine no higher than the knowledge base's mean (no evidence "
                         "of relevance); hits tied at 0 are ordered by cosine",
        "zero_other": "0: no keyword match, and a semantic part of 0 (the lowest the normaliser gives); hits "
                      "tied at 0 are ordered by cosine",
        "why_hit": "Why rank {rank}?",
        "why_hit_part": "part",
        "why_hit_raw": "raw score",
        "why_hit_norm": "normalised",
        "why_hit_weight": "weight",
        "why_hit_contribution": "contribution",
        "why_hit_keyword": "keyword",
        "why_hit_semantic": "semantic",
        "why_hit_total": "hybrid score = {kw} + {sem}",
        "why_hit_rrf": "rrf's \"normalised\" value is 60 / (60 + rank); its weights are divided by 60.",
        "why_hit_no_keyword": "Keyword search did not match this entry (or ranked it outside its window): "
                              "no keyword contribution.",
        "why_hit_no_semantic": "Not among the semantic candidates: no semantic contribution.",
        "why_hit_semantic_lookup": "Not in the semantic list's top; fusion looked up its cosine, so it has a semantic part too.",
        "why_hit_matched": "Matched query words: {tokens}",
        "why_label": "Why this rank: summary table of every hybrid hit",
        "why_rank": "rank",
        "why_text": "text",
        "why_bm25": "BM25 raw",
        "why_bm25_norm": "BM25 normalised",
        "why_cosine": "cosine",
        "why_cosine_norm": "cosine normalised",
        "why_kw_weight": "keyword weight",
        "why_sem_weight": "semantic weight",
        "why_kw_part": "keyword part",
        "why_sem_part": "semantic part",
        "why_total": "hybrid score",
        "why_alpha": "alpha used for this query = {alpha}, the same for every hit (adaptive lowers the keyword "
                     "share with the keyword coverage, and uses 1 when the semantic top 10 holds entries in a "
                     "language the query's words cannot match). "
                     "Each row: part = weight × normalised score, hybrid score = sum of the two parts.",
        "why_alpha_blind": "**This query is semantic only**: the semantic top 10 holds entries in a language the "
                           "query's words cannot match, which keyword matching cannot judge, so the alpha slider "
                           "does not change this query's hybrid ranking; to set the mix yourself, choose weighted "
                           "fusion.",
        "why_alpha_weighted": "alpha used for this query = {alpha}, the slider's value, the same for every hit "
                              "(weighted fusion keeps it as set). Each row: part = weight × normalised score, "
                              "hybrid score = sum of the two parts.",
        "why_alpha_rrf": "alpha used for this query = {alpha}, the slider's value, the same for every hit. rrf fuses "
                         "ranks, not scores: each \"normalised\" value is {rrf_k} / ({rrf_k} + the entry's rank in "
                         "that list), the weights are alpha / {rrf_k} and (1 − alpha) / {rrf_k}. Each row: part = "
                         "weight × normalised score, hybrid score = sum of the two parts.",
        "notice_empty_query": "Please enter a query.",
        "notice_empty_kb": "The knowledge base is empty: open \"Knowledge base\" above and type entries "
                           "(one per line) or upload a file.",
        "notice_loading": "The vector engine is still loading: keyword results only for now; semantic and "
                          "hybrid results follow automatically.",
        "notice_failed": "The vector engine is unavailable: keyword results only.",
        "notice_reindexing": "The knowledge base just changed and its index is being updated (nothing to embed): "
                             "keyword results only for a moment.",
        "notice_indexing": "The knowledge base just changed and is being embedded: keyword results only for now, "
                           "updated automatically when done.",
        "notice_error": "Search failed: {error}",
        "notice_wait_for_index": "This knowledge base ({chars} characters) is not indexed yet: if it is being "
                                 "indexed, search once that is done; if not (the page has been open a long time), "
                                 "reload the page to index it again. Text not yet indexed is searched by keyword on "
                                 "the spot only up to {limit} characters.",
        "notice_no_index": "This page has no vector index: it is being built, or the server dropped it ({hours} h "
                           "after it was built, or when too many visitors came since). Keyword results only; "
                           "reload the page to build it again.",
        "notice_query_cut": "The query has {chars} characters, more than this demo's limit of {limit}: only its "
                            "first {limit} characters were used.",
        "notice_truncated": "The query has {chars} characters, more than the {limit} tokens {model} reads at "
                            "once: only its first {kept} characters were searched.",
        "notice_no_keyword": "Keyword search found nothing: none of the query's words ({tokens}) is in the "
                             "knowledge base. The semantic column ranks by meaning.",
        "notice_no_query_words": "Keyword search found nothing: the query has no words to match (only "
                                 "punctuation, emoji or stop words). The semantic column ranks by meaning.",
        "status_loading": "Loading the vector engine… ({model}) Keyword search already works.",
        "status_ready": "Vector space ready: {model} · {dimension} dims · {device} · {dtype}",
        "status_fallback": "The requested model could not be used; the packaged model is used instead. "
                           "Reason: {reason}",
        "status_failed": "The vector engine failed to load; keyword search only. Reason: {error}",
        "backstage_label": "Behind the scenes: the query vector and stage timings",
        "vec_dimension": "dimension",
        "vec_min": "min",
        "vec_max": "max",
        "vec_mean": "mean",
        "vec_norm": "L2 norm",
        "vec_model": "model",
        "vec_device": "device",
        "vec_dtype": "dtype",
        "vec_none": "No query vector yet: it appears here after a semantic search.",
        "vec_index": "dim",
        "vec_value": "value",
        "plot_bar_title": "First {n} dimensions of the query vector",
        "plot_hist_title": "Distribution of all {n} dimensions",
        "plot_count": "dimensions",
        "plot_bar_label": "bar chart of the query vector's first 50 dimensions",
        "plot_hist_label": "histogram of the query vector's values",
        "timing_stage": "stage",
        "timing_ms": "time (ms)",
        "stage_tokenize": "tokenise",
        "stage_keyword": "BM25 search",
        "stage_embed": "embed query",
        "stage_vector": "vector search",
        "stage_fuse": "fusion",
        "stage_rerank": "rerank",
        "stage_total": "total",
        "sample_everyday": "Everyday facts",
        "sample_mixed_zh_en": "Mixed zh/en support FAQ",
        "sample_tech_faq": "Tech FAQ",
        "eval_help": "Upload a labelled set to compare keyword, semantic and hybrid search on your data and find "
                     "the best alpha. Either of two forms:\n\n"
                     "- three files: `corpus.jsonl` (one `{\"id\": ..., \"text\": ...}` per line), `queries.jsonl` "
                     "(the same form) and `qrels.tsv` (`query id`, `document id`, `relevance` per line, separated "
                     "by tabs; relevance > 0 means relevant); BEIR's form (`_id`, `title`, a qrels header) works too;\n"
                     "- or one CSV with two columns `query, relevant text` (a query on several rows has several "
                     "relevant texts): the search tab's knowledge base is searched, with each relevant text it "
                     "lacks added (without a knowledge base, the relevant texts alone);\n"
                     "- without labels, `queries.jsonl` alone (with `corpus.jsonl`, or against the knowledge base "
                     "of the search tab): the page compares how much the settings' rankings overlap;\n"
                     "- or the zip the search tab's \"Download judgements\" gives; or click \"Evaluate my judgements\" "
                     "to evaluate the knowledge base on the judgements made in the search tab in this session.\n\n"
                     "Upload at most 3 files at a time (with more, the server refuses the whole upload and the "
                     "file box shows only an error): pick just the files above, not the folder's other files "
                     "(such as `SOURCE.json`).",
        "eval_files": "labelled set",
        "eval_max_queries": "queries to evaluate (0 = all)",
        "eval_bad_limit": "Queries to evaluate must be 0 (all) or a positive whole number, not {value}.",
        "eval_run": "Run evaluation",
        "eval_judged_name": "my judgements",
        "eval_judged_elsewhere": "No entry judged relevant in this session is in the current knowledge base ({n} judgements were made before it changed): switch back to that knowledge base, or upload the judgements zip (it carries that knowledge base).",
        "eval_judged_left_out": "Judgements of entries not in the current knowledge base (it changed) were left out of this evaluation: {n}. Download the judgements to keep them.",
        "err_one_zip": "Upload the judgements zip on its own (clear the upload box first).",
        "eval_table": "quality (higher is better)",
        "eval_curve": "nDCG@10 against alpha",
        "eval_apply": "Apply the best setting (alpha, fusion, normaliser, window) to the search tab",
        "eval_need_model": "The embedding model is {state}{error}; evaluation needs it: try again when it is ready.",
        "model_state_loading": "loading",
        "model_state_failed": "failed",
        "model_state_ready": "ready",
        "eval_bad_upload": "Cannot read the labelled set: {error}",
        "eval_no_file": "no file uploaded.",
        "eval_not_received": "only files uploaded through this page can be read, and {name} was not uploaded here.",
        "eval_need_run": "Run an evaluation first.",
        "eval_need_labels": "This evaluation had no relevance labels (queries only), so there is no best setting to "
                            "apply or export: upload qrels (or your judgements) and run it again.",
        "eval_note": "**{dataset}**: {queries} queries, {docs} documents, model {model}. Best setting: {fusion}, "
                     "alpha {alpha} (nDCG@10 = {ndcg}).",
        "eval_applied": "Applied alpha {alpha}, fusion {fusion}, normaliser {normalizer} and window {window} to the "
                        "search tab.",
        "eval_stage_documents": "embedding documents",
        "eval_stage_queries": "embedding queries",
        "eval_stage_ranking": "ranking",
        "eval_method": "method",
        "eval_keyword": "keyword (BM25)",
        "eval_semantic": "semantic",
        "eval_hybrid": "hybrid default ({fusion}, alpha {alpha})",
        "eval_best": "best sweep point ({fusion}, alpha {alpha})",
        "eval_plot_title": "{dataset}: nDCG@10 against alpha<br><sup>{model}</sup>",
        "eval_plot_x": "alpha (semantic weight)",
        "eval_plot_only": "{name} only {value}",
        "eval_plot_default": "default ({fusion})",
        # errors of files a visitor gives (``hybrid.kb.UserError`` keys, shown instead of their English message)
        "err_undecodable": "{name} is neither UTF-8 nor GBK/GB18030 nor Big5: save it as UTF-8 and upload it again.",
        "err_bad_utf16": "{name} opens as UTF-16 text (its byte-order mark) but cannot be read as UTF-16: save it as "
                         "UTF-8 text and upload it again.",
        "err_binary": "{name} holds NUL bytes: it is a binary file (or UTF-16 text without a byte-order mark), not "
                      "text. Save it as UTF-8 text and upload it again.",
        "err_file_type": "{name}: the file type {suffix} is not supported; upload one of {allowed}.",
        "err_file_no_suffix": "{name} has no file-name extension, which says how to read it: rename it to end in one "
                              "of {allowed}.",
        "err_file_size": "{name} is {size} MB, over the {limit} MB limit: split the file.",
        "err_json_line": "{name} line {line} is not valid JSON ({detail}).",
        "err_text_field": "{name} line {line}: expected a JSON object with a \"text\" string.",
        "err_id_text_field": "{name} line {line}: expected a JSON object with \"id\" (or BEIR's \"_id\") and \"text\".",
        "err_empty_file": "{name} is empty: it needs one {{\"id\": ..., \"text\": ...}} per line.",
        "err_csv_no_text": "{name}: the first row must name the columns, one of them text (the entries; an id column is optional); found {found}. Name the column that holds the entries text (add a header row such as id,text if the file has none), or save the entries one per line as .txt.",
        "err_qrels_line": "qrels.tsv line {line}: expected query_id<TAB>doc_id<TAB>relevance, got {got!r}.",
        "err_duplicate_id": "corpus.jsonl: document id {id!r} appears twice; ids must be unique.",
        "err_duplicate_query_id": "queries.jsonl: query id {id!r} appears twice; ids must be unique.",
        "err_no_relevant": "no query has a relevant document in the corpus: check that qrels.tsv uses the ids of "
                           "queries.jsonl and corpus.jsonl and grades > 0 for relevant documents.",
        "err_csv_row": "row {row}: needs a query and its relevant text, got {got}.",
        "err_csv_grade": "row {row}: relevance {got!r} is not a whole number (0: not relevant; 1, 2, ...: relevant, higher is better).",
        "err_qrels_grade": "qrels.tsv line {line}: the relevance {got!r} is not a whole number (0: not relevant; 1, 2, ...: relevant, higher is better).",
        "err_csv_no_relevant": "no (query, relevant text) rows with a relevance above 0.",
        "err_csv_empty": "the CSV holds no rows; expected: query,relevant text.",
        "err_no_file": "no file uploaded.",
        "err_one_csv": "upload one CSV on its own, or the three labelled-set files.",
        "err_missing_files": "missing {files}. Upload a set's files together (a new upload replaces the files "
                             "uploaded before).",
        "err_unknown_files": "{files}: not a file of a labelled set. Name the files corpus.jsonl, queries.jsonl and "
                             "qrels.tsv (or upload one .csv, or the judgements .zip of the search tab); clear the "
                             "upload box and upload again.",
        "err_duplicate_files": "more than one {files} uploaded: clear the upload box (× at its top right) and upload "
                               "the three files together.",
        "err_too_many_docs": "the corpus has {n} documents; this page evaluates at most {limit} (run "
                             "`python -m hybrid.evaluate --data FOLDER` for larger sets, or cut the corpus).",
        "eval_uploaded": "uploaded set",
        "export_button": "Export setting",
        "export_file": "Setting file (JSON: load it with --config; holds the Milvus / Elasticsearch / OpenSearch "
                       "equivalents)",
        "export_best_button": "Export the best setting",
        "kb_embedding": "Embedding {n} entries ({model}): keyword results only until it finishes",
        "kb_reindexing": "The knowledge base changed: updating the index (every entry has its vector already; "
                         "nothing to embed)",
        "kb_reembedding": "The knowledge base changed: embedding {n} new or changed entries ({model}); keyword "
                          "results only until it finishes",
        "kb_failed": "Keyword index ready ({n} entries); the vector engine is unavailable ({error}): keyword "
                     "search only",
        "semantic_embedding": "Embedding the knowledge base's {n} entries: results appear here when it finishes.",
        "semantic_reindexing": "Updating the index of the knowledge base's {n} entries (nothing to embed): results "
                               "appear here in a moment.",
        "semantic_failed": "The vector engine is unavailable ({error}): keyword results only.",
        "notice_embedding": "The vector engine is ready and is embedding the knowledge base: keyword results only "
                            "for now, updated automatically when done.",
    },
}


# The tokeniser panel and the tokens shown with the results.
TEXTS["zh"].update({
    "tok_panel": "分词：jieba 模式、繁简折叠、用户词典",
    "tok_mode_label": "jieba 模式",
    "tok_mode_info": "search：词加上其中的短词（召回高）；precise：只切整词",
    "tok_fold_label": "繁简折叠（繁體查询找到简体条目，反之亦然；显示的文字不变）",
    "tok_dict_label": "用户词典（.txt，每行一个必须保持完整的词：产品名、型号）",
    "tok_status": "当前分词：{mode} · 繁简折叠{fold} · 用户词典 {words} 个词",
    "tok_on": "开",
    "tok_off": "关",
    "tok_dict_error": "用户词典无法读取：{error}（请上传 UTF-8 文本文件，每行一个词）",
    "tok_dict_not_utf8": "用户词典无法读取：文件不是 UTF-8 编码（第 {position} 个字节是 {byte}）。请另存为 UTF-8 后重新上传，"
                         "例如 GBK 文件可用 `iconv -f gbk -t utf-8 旧文件 > 新文件` 转换。",
    "tok_dict_too_big": "用户词典无法读取：文件有 {size} 字节，最多 {most} 字节。词典是词表（每行一个词），不是语料。",
    "tok_dict_not_received": "用户词典无法读取：这不是本页面收到的上传文件。请用上传框重新上传。",
    "tok_dict_line_word": "用户词典无法读取：第 {line} 行的词有 {size} 个字符，最多 {most} 个。词典每行一个词"
                          "（产品名、型号），不是句子或段落。",
    "tok_dict_line_frequency": "用户词典无法读取：第 {line} 行的词频有 {size} 位数字，最多 {most} 位"
                               "（jieba 自带词典的词频最多 6 位）。",
    "tok_dict_line_zero": "用户词典无法读取：第 {line} 行的词频是 0。jieba 会因此对本服务器的所有用户删去这个词，直到服务器重启；"
                          "请删掉这一行（用户词典用来添加必须保持完整的词）。",
    "tok_dict_line_separator": "用户词典无法读取：第 {line} 行的词和词频用逗号、分号或制表符隔开，jieba 会把整行当成一个词；请用空格隔开（如 `ABX9000PRO 100`）。",
    "tok_dict_limit": "用户词典暂时不能使用：服务器上同时使用的词典已达上限（它们共用的内存已满）。"
                      "请稍后再试，或不上传词典。",
    "query_tokens_line": "查询词元：{tokens}",
    "query_tokens_none": "查询词元：（无，关键词搜索不会匹配）",
    "matched_tokens_line": "匹配词元：{tokens}",
})
TEXTS["en"].update({
    "tok_panel": "Tokeniser: jieba mode, Traditional/Simplified folding, user dictionary",
    "tok_mode_label": "jieba mode",
    "tok_mode_info": "search: words plus their shorter sub-words (higher recall); precise: whole words only",
    "tok_fold_label": "Fold Traditional/Simplified (a 繁體 query finds 简体 entries and the reverse; text shown unchanged)",
    "tok_dict_label": "User dictionary (.txt, one word per line that must stay whole: product names, codes)",
    "tok_status": "Tokeniser: {mode} · folding {fold} · user dictionary {words} words",
    "tok_on": "on",
    "tok_off": "off",
    "tok_dict_error": "cannot read the user dictionary: {error} (upload a UTF-8 text file, one word per line)",
    "tok_dict_not_utf8": "cannot read the user dictionary: the file is not UTF-8 (byte {position} is {byte}). Save it "
                         "as UTF-8 and upload it again, e.g. `iconv -f gbk -t utf-8 OLD > NEW` for a GBK file.",
    "tok_dict_too_big": "cannot read the user dictionary: the file has {size} bytes, at most {most} are taken. A "
                        "dictionary is a word list (one word per line), not a corpus.",
    "tok_dict_not_received": "cannot read the user dictionary: it is not a file this page received. Upload it again "
                             "with the upload box.",
    "tok_dict_line_word": "cannot read the user dictionary: line {line} holds a word of {size} characters, at most "
                          "{most} are taken. A dictionary holds one word per line (product names, codes), not "
                          "sentences or paragraphs.",
    "tok_dict_line_frequency": "cannot read the user dictionary: line {line} gives a frequency of {size} digits, at "
                               "most {most} are taken (jieba's own frequencies have at most 6).",
    "tok_dict_line_zero": "cannot read the user dictionary: line {line} gives the frequency 0, with which jieba "
                          "removes a word for every user of this server until it restarts. Leave the line out (a "
                          "user dictionary adds words that must stay whole).",
    "tok_dict_line_separator": "cannot read the user dictionary: line {line} separates a word and its frequency with a comma, a semicolon or a tab, which jieba reads as one word; separate them with a space (`ABX9000PRO 100`).",
    "tok_dict_limit": "the user dictionary cannot be used now: this server holds as many dictionaries at once as it "
                      "can (the memory they share is full). Try again later, or search without one.",
    "query_tokens_line": "Query tokens: {tokens}",
    "query_tokens_none": "Query tokens: (none; keyword search cannot match)",
    "matched_tokens_line": "Matched tokens: {tokens}",
})
# The learned fusion weight ("why this rank"): the weight it chose and the features that moved it.
TEXTS["zh"].update({
    "why_hit_learned": "学习的权重：本查询语义权重 {alpha}（默认 {base}），因为 {reasons}。",
    "why_hit_learned_kept": "学习的权重：模型没有预测到更好的权重，保持语义权重 {alpha}。",
    "why_hit_learned_none": "学习的权重：模型没有预测到比 {alpha} 更好的语义权重。",
    "why_hit_learned_raised": "最佳关键词匹配含有你的词的 {coverage}（按稀有度加权），所以实际语义权重从 {chosen} 提高到 {used}。",
    "why_hit_learned_blind": "只用语义（权重 1.00），覆盖了学习的权重 {chosen}：部分最佳语义结果与你的词没有共同的文字，关键词匹配无法判断它们。",
    "weight_more_semantic": "更偏语义",
    "weight_more_keyword": "更偏关键词",
    "alpha_info_learned": "learned：与 adaptive 相同，但模型按查询特征为每个查询选 α；预测不到更好时就用这里的 α",
    **{f"wf_{name}_{end}": phrase for name, pair in {
        "query_length": ("查询较长", "查询较短"),
        "han_share": ("查询几乎全是汉字", "查询汉字很少"),
        "latin_share": ("查询含很多拉丁字母", "查询拉丁字母很少"),
        "digit_share": ("查询含很多数字", "查询数字很少"),
        "tokens": ("查询词元很多", "查询词元很少"),
        "matched_share": ("你的词大多匹配上了", "你的词很少匹配上"),
        "coverage": ("最佳关键词匹配含有你的稀有词", "最佳关键词匹配缺少你的稀有词"),
        "keyword_hits": ("很多条目含有你的词", "很少条目含有你的词"),
        "top_bm25": ("关键词匹配很强", "关键词匹配很弱"),
        "bm25_gap": ("有一条关键词匹配明显领先", "关键词匹配彼此接近"),
        "top_cosine": ("最高余弦很高", "最高余弦较低"),
        "top_standing": ("最佳语义匹配明显突出", "最佳语义匹配不突出"),
        "cosine_gap": ("有一条语义匹配明显领先", "语义匹配彼此接近"),
        "candidate_mean": ("语义候选远高于知识库平均", "语义候选接近知识库平均"),
        "candidate_spread": ("语义候选分得很开", "语义候选挤在一起"),
        "overlap": ("两个列表一致", "两个列表不一致"),
        "blind_spot": ("有关键词匹配无法判断的语义结果", "关键词匹配能判断语义结果"),
    }.items() for end, phrase in zip(("hi", "lo"), pair)},
})
TEXTS["en"].update({
    "why_hit_learned": "Learned weight: semantic weight {alpha} for this query (default {base}), because {reasons}.",
    "why_hit_learned_kept": "Learned weight: the model predicted no better weight, so the semantic weight stays {alpha}.",
    "why_hit_learned_none": "Learned weight: the model predicted no better semantic weight than {alpha}.",
    "why_hit_learned_raised": "The best keyword match holds {coverage} of your words (by rarity), so the semantic "
                              "weight used rises from {chosen} to {used}.",
    "why_hit_learned_blind": "Semantic only (weight 1.00), overriding the learned weight {chosen}: some of the best "
                             "semantic hits share no script with your words, so keyword matching cannot judge them.",
    "weight_more_semantic": "more semantic",
    "weight_more_keyword": "more keyword",
    "alpha_info_learned": "learned: as adaptive, but a model picks α per query from its features; where it predicts "
                          "nothing better, this α is used",
    **{f"wf_{name}_{end}": phrase for name, pair in WEIGHT_FEATURES.items() for end, phrase in zip(("hi", "lo"), pair)},
})


# The evaluation tab's trust figures (issue 18) and the candidate-window control.
TEXTS["zh"].update({
    "window_label": "候选窗口",
    "window_info": "每个检索器交给融合的候选数",
    "eval_normalizers": "扫描的归一化方法（weighted 融合使用）",
    "eval_windows": "扫描的候选窗口",
    "eval_window_part": "窗口 {window}",
    "eval_default_mark": "（默认）",
    "eval_band_tie": "最好的设置（{setting}）与默认设置**无法区分**：nDCG@10 差 {mean}，其 95% 区间 [{lo}, {hi}] 包含 0。",
    "eval_band_better": "最好的设置（{setting}）**好于**默认设置：nDCG@10 高 {mean}，其 95% 区间 [{lo}, {hi}] 不含 0。",
    "eval_band_worse": "最好的设置（{setting}）**不如**默认设置：nDCG@10 差 {mean}，其 95% 区间 [{lo}, {hi}] 不含 0。",
    "eval_band_is_default": "默认设置（{setting}）就是最好的扫描点。",
    "eval_band_is_default_few": "在这 {n} 个查询上，默认设置（{setting}）是最好的扫描点；但查询太少，说明不了它最好。"
                                "至少标注 {least} 个查询再下结论。",
    "eval_band_few": "最好的设置（{setting}）与默认设置的 nDCG@10 差 {mean}，但只评了 {n} 个查询：太少，说明不了它更好"
                     "（它是 {points} 个扫描点里最好的一个，查询这么少时总有一个碰巧领先）。至少标注 {least} 个查询再下结论。",
    "eval_band_unlabelled": "没有相关度标注（只上传了查询）：下面只比较各种排序的重合度，不计算质量。",
    "eval_note_unlabelled": "**{dataset}**：{queries} 个查询（没有标注），{docs} 篇文档，模型 {model}。",
    "eval_point": "与默认设置比较的设置",
    "eval_per_query": "这个设置帮助和伤害最多的查询（点一行，在搜索页打开它）",
    "eval_effect": "影响",
    "eval_helps": "帮助",
    "eval_hurts": "伤害",
    "eval_query": "查询",
    "eval_default_ndcg": "默认 nDCG@10",
    "eval_setting_ndcg": "此设置 nDCG@10",
    "eval_change": "变化",
    "eval_action": "操作",
    "eval_open": "↗ 在搜索页打开",
    "eval_no_change_default": "（这是默认设置本身，没有可比较的查询：在上面选另一个设置）",
    "eval_no_change": "（这个设置对每个查询的 nDCG@10 都与默认设置相同）",
    "eval_ceiling": "**上限**：{total} 个查询中有 {n} 个的相关文档不在任一检索器的前 {window} 个候选里，任何融合都排不出它；"
                    "这 {window} 个候选里的召回率：关键词 {keyword}，语义 {semantic}。",
    "eval_ceiling_examples": "例如：{queries}",
    "eval_overlap": "重合度（各查询前 10 个结果的平均，不需要标注）",
    "eval_pair": "比较",
    "eval_shared": "共有",
    "eval_only_left": "只在左边",
    "eval_only_right": "只在右边",
    "eval_hybrid_short": "混合默认",
    "eval_chosen": "所选（{setting}）",
    "eval_read": "已读入：{files}，{queries} 个查询，{docs} 篇文档。",
    "eval_note_header": "第一行当作列名读取（{ids}），不算一对查询和文本。",
    "eval_note_queries": "qrels.tsv 有 {n} 个查询 id 不在 queries.jsonl 里（{ids}），这些评判被忽略。",
    "eval_note_documents": "qrels.tsv 有 {n} 个文档 id 不在 corpus.jsonl 里（{ids}），这些评判被忽略。",
    "eval_note_unjudged": "{n} 个查询在语料里没有相关文档（{ids}），不参与评测。",
    "eval_note_added": "{n} 条相关文本不是知识库里的条目，已作为新条目加入评测（{ids}）：若它们本应是已有条目，请核对文字。",
    "eval_read_unlabelled": "已读入：{files}，{queries} 个查询（没有标注），{docs} 篇文档。",
    "eval_one_file": "1 个文件",
    "eval_n_files": "{n} 个文件",
})
TEXTS["en"].update({
    "window_label": "candidate window",
    "window_info": "candidates each retriever hands to fusion",
    "eval_normalizers": "normalisers to sweep (weighted fusion reads them)",
    "eval_windows": "candidate windows to sweep",
    "eval_window_part": "window {window}",
    "eval_default_mark": " (default)",
    "eval_band_tie": "The best setting ({setting}) is **not distinguishable** from the default: nDCG@10 differs by "
                     "{mean}, and its 95% interval [{lo}, {hi}] contains 0.",
    "eval_band_better": "The best setting ({setting}) **beats** the default: nDCG@10 {mean}, and its 95% interval "
                        "[{lo}, {hi}] lies above 0.",
    "eval_band_worse": "The best setting ({setting}) is **below** the default: nDCG@10 {mean}, and its 95% interval "
                       "[{lo}, {hi}] lies below 0.",
    "eval_band_is_default": "The default setting ({setting}) is the best sweep point.",
    "eval_band_is_default_few": "The default setting ({setting}) is the best sweep point on these {n} queries, too "
                                "few to say it is the best. Label at least {least} queries before concluding.",
    "eval_band_few": "The best setting ({setting}) differs from the default by nDCG@10 {mean}, but on only {n} "
                     "queries: too few to say it is better (it is the best of {points} sweep points, and with so few "
                     "queries one of them always leads by chance). Label at least {least} queries before concluding.",
    "eval_band_unlabelled": "No relevance labels (queries only): the table below compares the rankings' overlap; "
                            "no quality is measured.",
    "eval_note_unlabelled": "**{dataset}**: {queries} queries (no labels), {docs} documents, model {model}.",
    "eval_point": "setting to compare with the default",
    "eval_per_query": "queries this setting helps and hurts most (click a row to open it in the search tab)",
    "eval_effect": "effect",
    "eval_helps": "helps",
    "eval_hurts": "hurts",
    "eval_query": "query",
    "eval_default_ndcg": "default nDCG@10",
    "eval_setting_ndcg": "this setting nDCG@10",
    "eval_change": "change",
    "eval_action": "action",
    "eval_open": "↗ open in search",
    "eval_no_change_default": "(this is the default itself, so no query changes: pick another setting above)",
    "eval_no_change": "(this setting gives every query the default's nDCG@10)",
    "eval_ceiling": "**Ceiling**: {n} of {total} queries have a relevant document that neither retriever returns in "
                    "its {window} candidates, so no fusion can rank it. Recall within those {window} candidates: keyword "
                    "{keyword}, semantic {semantic}.",
    "eval_ceiling_examples": "For example: {queries}",
    "eval_overlap": "overlap (mean over queries of the top 10; needs no labels)",
    "eval_pair": "pair",
    "eval_shared": "shared",
    "eval_only_left": "only left",
    "eval_only_right": "only right",
    "eval_hybrid_short": "hybrid default",
    "eval_chosen": "chosen ({setting})",
    "eval_read": "Read {files}: {queries} queries, {docs} documents.",
    "eval_note_header": "The first row was read as column names ({ids}), not as a pair.",
    "eval_note_queries": "qrels.tsv names query ids that queries.jsonl lacks ({n}: {ids}); those judgements are ignored.",
    "eval_note_documents": "qrels.tsv names document ids that corpus.jsonl lacks ({n}: {ids}); those judgements are ignored.",
    "eval_note_unjudged": "Queries without a relevant document in the corpus are left out ({n}: {ids}).",
    "eval_note_added": "Relevant texts that are no entry of the knowledge base were added to it for the evaluation ({n}: {ids}); if they were meant to be entries, check their wording.",
    "eval_read_unlabelled": "Read {files}: {queries} queries (no labels), {docs} documents.",
    "eval_one_file": "1 file",
    "eval_n_files": "{n} files",
})

def text(key: str, lang: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """The string ``key`` in ``lang`` ("zh" or "en"), formatted with ``values``.

    Raises:
        KeyError: an unknown key or language (a programming error, not user input).
    """
    template = TEXTS[lang][key]
    if not values:
        return template
    formatted = template.format(**values)
    return _singular(formatted) if lang == "en" else formatted


# English counts in the templates are plural ("{n} entries"); a count of exactly one takes the singular.
_SINGULARS = {"entries": "entry", "queries": "query", "documents": "document", "files": "file",
              "judgements": "judgement", "words": "word", "characters": "character", "tokens": "token"}
_ONE = re.compile(r"(?<![\d.,])\b1 (" + "|".join(_SINGULARS) + r")\b")


def _singular(message: str) -> str:
    return _ONE.sub(lambda m: f"1 {_SINGULARS[m.group(1)]}", message)


def explain(error: Any, lang: str) -> str:
    """A visitor's error in ``lang``: a ``hybrid.kb.UserError`` (or its ``error_record``) by its key, its English
    message when this page has no text for the key."""
    record = error if isinstance(error, Mapping) else error_record(error)
    key = f"err_{record['key']}"
    return text(key, lang, **record["values"]) if key in TEXTS[lang] else record["message"]


def error_record(error: Exception) -> dict[str, Any]:
    """An error as a plain value kept in the page's state (re-explained after a language switch)."""
    values = {name: hide_paths(v) if isinstance(v, str) else v for name, v in getattr(error, "values", {}).items()}
    return {"key": getattr(error, "key", None), "values": values, "message": hide_paths(str(error))}


# A translated property: a key of TEXTS, or a function of the language for values built from several keys.
Spec = str | Callable[[str], Any]


def resolve(spec: Spec, lang: str) -> Any:
    """The value of one translated property in ``lang``."""
    return spec(lang) if callable(spec) else text(spec, lang)


class Translator:
    """Creates components with translated properties and remembers them, so one event relabels them all.

    ``tr.make(gr.Textbox, i18n={"label": "kb_label"}, lines=3)`` builds the textbox with its label in the
    starting language; ``tr.relabel(lang)`` returns one update per remembered component, in the order of
    ``tr.components`` (the outputs of the language switch).

    Args:
        lang: the language components are created in.
    """

    def __init__(self, lang: str = DEFAULT_LANGUAGE) -> None:
        self.lang = lang
        self._items: list[tuple[Any, Mapping[str, Spec]]] = []

    def make(self, factory: Callable[..., Any], *args: Any, i18n: Mapping[str, Spec], **kwargs: Any) -> Any:
        """``factory(*args, **kwargs)`` with each ``i18n`` property resolved in the starting language."""
        component = factory(*args, **kwargs, **{name: resolve(spec, self.lang) for name, spec in i18n.items()})
        self._items.append((component, dict(i18n)))
        return component

    @property
    def components(self) -> list[Any]:
        """Every component made here, in creation order."""
        return [component for component, _ in self._items]

    def relabel(self, lang: str) -> list[dict[str, Any]]:
        """One ``gr.update`` per component with its translated properties in ``lang``."""
        import gradio as gr

        return [gr.update(**{name: resolve(spec, lang) for name, spec in specs.items()}) for _, specs in self._items]
